package cluster

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// StartCounter counts the workflows the server says it started on one
// client connection, from the responses themselves. The harness holds the
// journal against it: a start that bypassed the journal still shows here.
// On the same connection it counts the RESOURCE_EXHAUSTED answers
// (Refused): the driver's own view of the server's refusals.
type StartCounter struct {
	n       atomic.Int64
	Refused RefusalCounter
}

// Count is the number of workflows started so far.
func (s *StartCounter) Count() int64 { return s.n.Load() }

// interceptor counts StartWorkflowExecution and SignalWithStart answers
// that report a new execution, and every refused call. It sits inside the
// SDK's retries, so each attempt is seen.
func (s *StartCounter) interceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if err != nil {
			s.Refused.observe(method, err)
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

// Refused is one kind of RESOURCE_EXHAUSTED answer: the method refused
// (StartWorkflowExecution) and the cause and scope the answer's details
// carry, as the enum names them ("" when it carries none).
type Refused struct {
	Method, Cause, Scope string
}

// RefusalCounter counts RESOURCE_EXHAUSTED answers by kind.
type RefusalCounter struct {
	mu sync.Mutex
	n  map[Refused]int64
}

func (c *RefusalCounter) observe(method string, err error) {
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		return
	}
	k := Refused{Method: method[strings.LastIndexByte(method, '/')+1:]}
	if re, ok := serviceerror.FromStatus(st).(*serviceerror.ResourceExhausted); ok {
		k.Cause, k.Scope = re.Cause.String(), re.Scope.String()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[Refused]int64{}
	}
	c.n[k]++
}

// Counts returns the running totals.
func (c *RefusalCounter) Counts() map[Refused]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[Refused]int64, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}
