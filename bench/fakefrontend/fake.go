// Package fakefrontend is a fake Temporal frontend for benchmarking
// squall's driver alone. It is NOT a Temporal server and never part of a
// real run: it answers the workflow-service calls a noop run makes
// (namespace and system info, start, signal-with-start, the result's
// history long-poll, describe) at once, as if every workflow had completed
// the moment it started, and keeps no history. With the server's cost at
// zero, what a run measures against it is the driver's own: its CPU per
// workflow, its memory, and the latency it adds.
//
// It remembers which workflow IDs were started, so verification still
// proves something: a workflow never started is NotFound, as on a real
// cluster. IDs of the shape PREFIX-N (every squall driver's) are kept as
// one bit per N, so a run of millions stays in a few megabytes.
package fakefrontend

import (
	"context"
	"fmt"
	"hash/fnv"
	"net"
	"sync"
	"sync/atomic"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Version is what the fake reports as its server version, so a report of
// a run against it says so.
const Version = "fakefrontend"

// Server is the fake frontend. Calls it does not implement answer
// Unimplemented (the embedded UnimplementedWorkflowServiceServer).
type Server struct {
	workflowservice.UnimplementedWorkflowServiceServer

	ids   idSet
	calls sync.Map // method name -> *atomic.Int64
	// lose, when set (tests), makes the fake deny having started the IDs
	// it picks: a lost workflow, for showing that verification sees one.
	lose func(id string) bool
	grpc *grpc.Server
	lis  net.Listener
}

// Start serves a fake frontend on addr ("127.0.0.1:0" picks a port).
func Start(addr string) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fake frontend: listen on %s: %w", addr, err)
	}
	s := &Server{lis: lis, grpc: grpc.NewServer(grpc.UnaryInterceptor(toStatus))}
	s.ids.maxOther = maxOtherIDs
	workflowservice.RegisterWorkflowServiceServer(s.grpc, s)
	go func() { _ = s.grpc.Serve(lis) }()
	return s, nil
}

// toStatus sends a serviceerror as the gRPC status clients decode (its
// code and details), as Temporal's own frontend does: left as it is, gRPC
// would send it as Unknown, which the SDK retries.
func toStatus(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	if err != nil {
		return nil, serviceerror.ToStatus(err).Err()
	}
	return resp, nil
}

// Addr is the address it listens on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Close stops serving (open calls are cut off).
func (s *Server) Close() { s.grpc.Stop() }

// Started is the number of distinct workflow IDs started so far.
func (s *Server) Started() int64 { return s.ids.len() }

// Calls counts the calls answered, by method name.
func (s *Server) Calls() map[string]int64 {
	out := map[string]int64{}
	s.calls.Range(func(k, v any) bool { out[k.(string)] = v.(*atomic.Int64).Load(); return true })
	return out
}

func (s *Server) count(method string) {
	c, ok := s.calls.Load(method)
	if !ok {
		c, _ = s.calls.LoadOrStore(method, new(atomic.Int64))
	}
	c.(*atomic.Int64).Add(1)
}

// maxOtherIDs bounds the IDs kept by name (not of the PREFIX-N shape): a
// start beyond it is refused rather than growing without bound.
const maxOtherIDs = 1 << 20

var started = timestamppb.New(time.Unix(0, 0))

func (s *Server) GetSystemInfo(context.Context, *workflowservice.GetSystemInfoRequest) (*workflowservice.GetSystemInfoResponse, error) {
	s.count("GetSystemInfo")
	return &workflowservice.GetSystemInfoResponse{ServerVersion: Version, Capabilities: &workflowservice.GetSystemInfoResponse_Capabilities{
		SignalAndQueryHeader: true, InternalErrorDifferentiation: true, EncodedFailureAttributes: true, SdkMetadata: true,
	}}, nil
}

func (s *Server) DescribeNamespace(_ context.Context, r *workflowservice.DescribeNamespaceRequest) (*workflowservice.DescribeNamespaceResponse, error) {
	s.count("DescribeNamespace")
	return &workflowservice.DescribeNamespaceResponse{
		NamespaceInfo: &namespacepb.NamespaceInfo{Name: r.GetNamespace(), Id: runID(r.GetNamespace()), State: enumspb.NAMESPACE_STATE_REGISTERED},
		Config:        &namespacepb.NamespaceConfig{},
	}, nil
}

func (s *Server) StartWorkflowExecution(_ context.Context, r *workflowservice.StartWorkflowExecutionRequest) (*workflowservice.StartWorkflowExecutionResponse, error) {
	s.count("StartWorkflowExecution")
	if _, err := s.ids.add(r.GetWorkflowId()); err != nil {
		return nil, err
	}
	// A workflow that completed at once may be started again under its
	// ID (the default reuse policy): every start is a new run.
	return &workflowservice.StartWorkflowExecutionResponse{RunId: runID(r.GetWorkflowId()), Started: true}, nil
}

func (s *Server) SignalWithStartWorkflowExecution(_ context.Context, r *workflowservice.SignalWithStartWorkflowExecutionRequest) (*workflowservice.SignalWithStartWorkflowExecutionResponse, error) {
	s.count("SignalWithStartWorkflowExecution")
	added, err := s.ids.add(r.GetWorkflowId())
	if err != nil {
		return nil, err
	}
	// An entity signalled again is taken to be still running: only the
	// first signal-with-start starts it.
	return &workflowservice.SignalWithStartWorkflowExecutionResponse{RunId: runID(r.GetWorkflowId()), Started: added}, nil
}

func (s *Server) GetWorkflowExecutionHistory(_ context.Context, r *workflowservice.GetWorkflowExecutionHistoryRequest) (*workflowservice.GetWorkflowExecutionHistoryResponse, error) {
	s.count("GetWorkflowExecutionHistory")
	id := r.GetExecution().GetWorkflowId()
	if !s.ids.has(id) {
		return nil, notFound(id)
	}
	events := history()
	if r.GetHistoryEventFilterType() == enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT {
		events = events[1:]
	}
	return &workflowservice.GetWorkflowExecutionHistoryResponse{History: &historypb.History{Events: events}}, nil
}

func (s *Server) DescribeWorkflowExecution(_ context.Context, r *workflowservice.DescribeWorkflowExecutionRequest) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	s.count("DescribeWorkflowExecution")
	id := r.GetExecution().GetWorkflowId()
	if !s.ids.has(id) || (s.lose != nil && s.lose(id)) {
		return nil, notFound(id)
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
		Execution:     &commonpb.WorkflowExecution{WorkflowId: id, RunId: runID(id)},
		Status:        enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED,
		StartTime:     started,
		CloseTime:     started,
		HistoryLength: int64(len(history())),
	}}, nil
}

// history is every workflow's: started, then completed with no result.
func history() []*historypb.HistoryEvent {
	return []*historypb.HistoryEvent{
		{EventId: 1, EventTime: started, EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
			Attributes: &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{WorkflowExecutionStartedEventAttributes: &historypb.WorkflowExecutionStartedEventAttributes{}}},
		{EventId: 2, EventTime: started, EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
			Attributes: &historypb.HistoryEvent_WorkflowExecutionCompletedEventAttributes{WorkflowExecutionCompletedEventAttributes: &historypb.WorkflowExecutionCompletedEventAttributes{WorkflowTaskCompletedEventId: 1}}},
	}
}

func notFound(id string) error {
	return serviceerror.NewNotFound(fmt.Sprintf("workflow execution not found for workflow ID %q (fake frontend)", id))
}

// runID is a run ID derived from the workflow ID, so the fake need not
// store one: the same ID always has the same run.
func runID(id string) string {
	h := fnv.New64a()
	h.Write([]byte(id))
	v := h.Sum64()
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(v>>32), uint16(v>>16), uint16(v)&0xfff, uint16(v>>20)&0xfff, v&0xffffffffffff)
}
