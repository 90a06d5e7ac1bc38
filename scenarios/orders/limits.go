package orders

import (
	"fmt"
	"strings"

	"github.com/squallbench/squall/scenarios/check"
)

// DefaultMaxHistoryEvents is the server's limit.historyCount.error, the
// default of the max-history-events option: a workflow whose history
// reaches it is terminated by the server.
const DefaultMaxHistoryEvents = check.HistoryEventsError

// Worst-case history cost, in events, of the building blocks. Measured
// histories are smaller (several completions share one workflow task); the
// estimate assumes none do, so a size that passes cannot hit the limit.
const (
	eventsBase     = 5 // started, first workflow task (3), completed
	eventsActivity = 6 // scheduled, started, completed + a workflow task (3)
	eventsChild    = 9 // initiated, started, completed + two workflow tasks (6)
	bytesPerEvent  = 600
	bytesPerResult = 160 // one map result in the reduce input (JSON)
)

// Plan sizes one batch: how many activities and children each workflow
// runs, and the estimated history of each workflow type.
type Plan struct {
	Mode        string
	Orders      int64
	BatchSize   int64
	Parallel    int
	Slices      int64 // children of the parent (0 unless a children mode)
	MaxChildren int
	// TopActivities: activities the top-level workflow runs itself.
	TopActivities int64
	// ChildActivities: activities of the largest child.
	ChildActivities int64
	TopEvents       int64 // estimated worst-case history events of the top-level workflow
	TopBytes        int64
	ChildEvents     int64 // of the largest child
	ChildBytes      int64
	ReduceBytes     int64 // mapreduce: the reduce activity's input size
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// NewPlan sizes a batch of orders in mode. slices is the children option
// (children mode); per-order-children uses one child per order.
func NewPlan(mode string, orders, batchSize int64, parallel int, slices int64, maxChildren int, inject bool) Plan {
	p := Plan{Mode: mode, Orders: orders, BatchSize: batchSize, Parallel: parallel, MaxChildren: maxChildren}
	extra := int64(0)
	if inject {
		extra = 1
	}
	switch mode {
	case ModeBatched:
		p.TopActivities = ceilDiv(orders, batchSize) + extra
	case ModeMapReduce:
		chunks := ceilDiv(orders, batchSize)
		p.TopActivities = chunks + 1 + extra
		p.ReduceBytes = chunks * bytesPerResult
	case ModeChildren, ModePerOrder:
		p.Slices = slices
		if mode == ModePerOrder {
			p.Slices = orders
		}
		p.TopActivities = extra
		p.ChildActivities = ceilDiv(ceilDiv(orders, p.Slices), batchSize)
		p.ChildEvents = eventsBase + eventsActivity*p.ChildActivities
		p.ChildBytes = p.ChildEvents * bytesPerEvent
	}
	p.TopEvents = eventsBase + eventsActivity*p.TopActivities + eventsChild*p.Slices
	p.TopBytes = p.TopEvents*bytesPerEvent + 2*p.ReduceBytes // the reduce input is in the history, its output too
	return p
}

// Check refuses sizes a workflow of the plan could not survive on a server
// whose history limit is maxEvents, and says which mode to use instead.
func (p Plan) Check(maxEvents int64) error {
	var problems []string
	if p.Parallel > check.MaxPending {
		problems = append(problems, fmt.Sprintf("parallel=%d exceeds Temporal's %d pending activities per workflow", p.Parallel, check.MaxPending))
	}
	if p.Slices > 0 && p.MaxChildren > check.MaxPending {
		problems = append(problems, fmt.Sprintf("max-children=%d exceeds Temporal's %d pending child workflows per workflow", p.MaxChildren, check.MaxPending))
	}
	if p.TopEvents > maxEvents || p.TopBytes > check.HistoryBytesError {
		what := "the workflow's"
		if p.Slices > 0 {
			what = "the parent's"
		}
		msg := fmt.Sprintf("%s history would reach about %d events / %d MiB (limit %d events / %d MiB): ",
			what, p.TopEvents, p.TopBytes>>20, maxEvents, check.HistoryBytesError>>20)
		switch p.Mode {
		case ModePerOrder:
			msg += fmt.Sprintf("one child per order does not scale to %d orders; use --option mode=children "+
				"(e.g. children=%d: %d orders per child, batched inside each child)",
				p.Orders, suggestChildren(p.Orders), ceilDiv(p.Orders, suggestChildren(p.Orders)))
		case ModeChildren:
			msg += fmt.Sprintf("use fewer, larger children (e.g. children=%d)", suggestChildren(p.Orders))
		default:
			msg += fmt.Sprintf("use --option mode=children (e.g. children=%d) or a larger batch-size",
				suggestChildren(p.Orders))
		}
		problems = append(problems, msg)
	}
	if p.ChildEvents > maxEvents || p.ChildBytes > check.HistoryBytesError {
		problems = append(problems, fmt.Sprintf("each child's history would reach about %d events (limit %d): use more children or a larger batch-size",
			p.ChildEvents, maxEvents))
	}
	if p.ReduceBytes > check.PayloadBytesError/2 {
		problems = append(problems, fmt.Sprintf("the reduce input would be about %d KiB (payload limit %d KiB): use a larger batch-size or --option mode=children",
			p.ReduceBytes>>10, check.PayloadBytesError>>10))
	}
	if len(problems) > 0 {
		return fmt.Errorf("orders-batch mode=%s orders=%d: %s", p.Mode, p.Orders, strings.Join(problems, "; "))
	}
	return nil
}

// suggestChildren picks a child count keeping every history small: about
// 1,000 orders per child, at most 1,000 children.
func suggestChildren(orders int64) int64 {
	return min(max(ceilDiv(orders, 1000), 1), 1000)
}
