package scenarios

import (
	"context"
	"testing"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
)

// signalClient answers SignalWorkflow from a script of errors.
type signalClient struct {
	client.Client
	errs  []error
	calls int
}

func (c *signalClient) SignalWorkflow(context.Context, string, string, string, any) error {
	c.calls++
	if len(c.errs) == 0 {
		return nil
	}
	err := c.errs[0]
	c.errs = c.errs[1:]
	return err
}

func TestSignal(t *testing.T) {
	closed := serviceerror.NewNotFound("workflow execution already completed")
	lost := serviceerror.NewUnavailable("connection reset")
	cases := []struct {
		name    string
		errs    []error
		wantErr bool
		calls   int
	}{
		{"delivered", nil, false, 1},
		{"transient then delivered", []error{lost, nil}, false, 2},
		// The first attempt landed unseen and the workflow closed: delivered.
		{"retry finds it closed", []error{lost, closed}, false, 2},
		// Closed before any signal was sent: a real error for the caller.
		{"closed at the first attempt", []error{closed}, true, 1},
		{"not transient", []error{serviceerror.NewInvalidArgument("bad")}, true, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &signalClient{errs: tc.errs}
			err := Signal(context.Background(), c, "wf", "sig", nil)
			if (err != nil) != tc.wantErr || c.calls != tc.calls {
				t.Fatalf("err %v after %d calls; want error=%v after %d", err, c.calls, tc.wantErr, tc.calls)
			}
		})
	}
}
