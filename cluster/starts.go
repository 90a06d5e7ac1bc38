package cluster

import (
	"context"
	"sync/atomic"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
)

// StartCounter counts the workflows the server says it started on one
// client connection, from the responses themselves. The harness holds the
// journal against it: a start that bypassed the journal still shows here.
type StartCounter struct{ n atomic.Int64 }

// Count is the number of workflows started so far.
func (s *StartCounter) Count() int64 { return s.n.Load() }

// interceptor counts StartWorkflowExecution and SignalWithStart answers
// that report a new execution.
func (s *StartCounter) interceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if err != nil {
			return err
		}
		switch r := reply.(type) {
		case *workflowservice.StartWorkflowExecutionResponse:
			if r.GetStarted() {
				s.n.Add(1)
			}
		case *workflowservice.SignalWithStartWorkflowExecutionResponse:
			if r.GetStarted() {
				s.n.Add(1)
			}
		}
		return nil
	}
}
