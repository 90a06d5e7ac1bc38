//go:build !squall_lean

package cluster

import (
	"testing"

	"go.temporal.io/server/common/primitives"
)

// The service names are spelled out so the lean build need not import
// the server for them; they must stay the server's own.
func TestServiceNamesAreTheServers(t *testing.T) {
	for ours, theirs := range map[string]primitives.ServiceName{
		ServiceFrontend: primitives.FrontendService, ServiceHistory: primitives.HistoryService,
		ServiceMatching: primitives.MatchingService, ServiceWorker: primitives.WorkerService,
	} {
		if ours != string(theirs) {
			t.Errorf("service %q is %q in the server", ours, theirs)
		}
	}
}
