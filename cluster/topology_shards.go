package cluster

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// ShardOwnership is which history node owns which shards at one moment.
type ShardOwnership struct {
	At     time.Time          `json:"at"`
	Shards int                `json:"shards"`
	Owners map[string][]int32 `json:"owners"` // node name → shard ids, ascending
	// Unreachable are history nodes that did not answer (killed, paused,
	// not yet up), with why.
	Unreachable map[string]string `json:"unreachable,omitempty"`
}

// OwnersOf are the nodes that say they own shard.
func (o ShardOwnership) OwnersOf(shard int32) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(o.Owners)) {
		if slices.Contains(o.Owners[name], shard) {
			out = append(out, name)
		}
	}
	return out
}

// Problems lists shards no node owns or several nodes own, and nodes
// that did not answer; none means every shard has exactly one owner.
func (o ShardOwnership) Problems() []string {
	var missing, doubled []string
	for s := int32(1); s <= int32(o.Shards); s++ {
		switch owners := o.OwnersOf(s); len(owners) {
		case 0:
			missing = append(missing, fmt.Sprint(s))
		case 1:
		default:
			doubled = append(doubled, fmt.Sprintf("%d (%s)", s, strings.Join(owners, ", ")))
		}
	}
	var out []string
	if len(missing) > 0 {
		out = append(out, "unowned shards "+strings.Join(missing, ","))
	}
	if len(doubled) > 0 {
		out = append(out, "shards owned twice "+strings.Join(doubled, "; "))
	}
	for _, name := range slices.Sorted(maps.Keys(o.Unreachable)) {
		out = append(out, name+": "+o.Unreachable[name])
	}
	return out
}

// Membership is the rings one frontend sees: per service, the nodes in it.
type Membership struct {
	At    time.Time           `json:"at"`
	Via   string              `json:"via"`   // the frontend node that answered
	Rings map[string][]string `json:"rings"` // service → node names (an address when no node has it)
}

// ShardMove is a history node's shards taken over by the others.
type ShardMove struct {
	From   string  `json:"from"`
	Shards []int32 `json:"shards"`
	// Since is when the wait began (the fault); TakenAt the first poll at
	// which every one of Shards had exactly one owner other than From.
	// Polls are ShardPoll apart, which bounds TakenAt's precision.
	Since   time.Time          `json:"since"`
	TakenAt time.Time          `json:"taken_at"`
	TakenBy map[string][]int32 `json:"taken_by"`
}

// ShardPoll is how often WaitShardsMoved and WaitServing ask.
const ShardPoll = 200 * time.Millisecond
