//go:build !squall_lean

package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/squallbench/squall/internal/sleep"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/api/adminservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// What a history-host fault needs as evidence, from the cluster's own
// answers: which host owns which shard (each history host's shard
// controller, through the admin API's DescribeHistoryHost), and the
// membership rings a frontend sees (DescribeCluster).

// ShardOwnership asks every history node which shards it owns.
func (t *Topology) ShardOwnership(ctx context.Context) (ShardOwnership, error) {
	fe, _, err := t.frontendConn(ctx)
	if err != nil {
		return ShardOwnership{}, err
	}
	admin := adminservice.NewAdminServiceClient(fe)
	o := ShardOwnership{At: time.Now(), Shards: t.Shards(), Owners: map[string][]int32{}, Unreachable: map[string]string{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range t.nodes {
		if n.Service != ServiceHistory {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			addr := n.Address()
			resp, err := admin.DescribeHistoryHost(cctx, &adminservice.DescribeHistoryHostRequest{HostAddress: addr})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				o.Unreachable[n.Name] = oneLine(err)
			case resp.GetAddress() != addr:
				o.Unreachable[n.Name] = fmt.Sprintf("answered as %s, not %s", resp.GetAddress(), addr)
			default:
				ids := slices.Clone(resp.GetShardIds())
				slices.Sort(ids)
				o.Owners[n.Name] = ids
			}
		}()
	}
	wg.Wait()
	return o, ctx.Err()
}

// Membership asks a frontend which nodes its membership rings hold.
func (t *Topology) Membership(ctx context.Context) (Membership, error) {
	fe, via, err := t.frontendConn(ctx)
	if err != nil {
		return Membership{}, err
	}
	return t.membershipVia(ctx, fe, via)
}

func (t *Topology) membershipVia(ctx context.Context, fe *grpc.ClientConn, via string) (Membership, error) {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	resp, err := adminservice.NewAdminServiceClient(fe).DescribeCluster(cctx, &adminservice.DescribeClusterRequest{})
	if err != nil {
		return Membership{}, fmt.Errorf("describe cluster via %s: %w", via, err)
	}
	byAddr := map[string]string{}
	for _, n := range t.nodes {
		byAddr[n.Address()] = n.Name
	}
	m := Membership{At: time.Now(), Via: via, Rings: map[string][]string{}}
	for _, r := range resp.GetMembershipInfo().GetRings() {
		var names []string
		for _, h := range r.GetMembers() {
			name, ok := byAddr[h.GetIdentity()]
			if !ok {
				name = h.GetIdentity()
			}
			names = append(names, name)
		}
		slices.Sort(names)
		m.Rings[r.GetRole()] = names
	}
	return m, nil
}

// WaitShardsMoved waits until every one of shards (what node from owned
// before the fault) is owned by exactly one other node, and says when and
// by whom. It polls every ShardPoll until ctx ends.
func (t *Topology) WaitShardsMoved(ctx context.Context, from string, shards []int32) (ShardMove, error) {
	mv := ShardMove{From: from, Shards: slices.Clone(shards), Since: time.Now()}
	if len(shards) == 0 {
		return mv, fmt.Errorf("%s owned no shards: nothing can move", from)
	}
	var last string
	for {
		o, err := t.ShardOwnership(ctx)
		if err == nil {
			taken, why := map[string][]int32{}, ""
			for _, s := range shards {
				owners := o.OwnersOf(s)
				if len(owners) != 1 || owners[0] == from {
					why = fmt.Sprintf("shard %d owned by [%s]", s, strings.Join(owners, ", "))
					break
				}
				taken[owners[0]] = append(taken[owners[0]], s)
			}
			if why == "" {
				mv.TakenAt, mv.TakenBy = o.At, taken
				return mv, nil
			}
			last = why
		} else {
			last = err.Error()
		}
		if !sleep.For(ctx, ShardPoll) {
			return mv, fmt.Errorf("%s's shards not taken over after %s: %s", from, time.Since(mv.Since).Round(time.Millisecond), last)
		}
	}
}

// WaitServing waits until the whole topology serves: every frontend
// answers for the namespace and sees every node in its rings, and every
// shard has exactly one owner among history nodes that all answer, the
// same on two polls in a row (ownership settles after a join).
func (t *Topology) WaitServing(ctx context.Context) error {
	var last string
	var prev *ShardOwnership
	for {
		why, o := t.servingProblem(ctx)
		if why == "" && prev != nil && maps.EqualFunc(prev.Owners, o.Owners, slices.Equal) {
			return nil
		}
		if why == "" {
			prev, last = &o, "shard ownership not yet stable"
		} else {
			prev, last = nil, why
		}
		if !sleep.For(ctx, ShardPoll) {
			return fmt.Errorf("topology not serving: %s (logs in %s)", last, t.spec.Dir)
		}
	}
}

func (t *Topology) servingProblem(ctx context.Context) (string, ShardOwnership) {
	want := map[string][]string{}
	for _, n := range t.nodes {
		want[n.Service] = append(want[n.Service], n.Name)
	}
	for _, n := range t.nodes {
		if n.Service != ServiceFrontend {
			continue
		}
		fe, err := t.conn(n.DialAddress())
		if err != nil {
			return err.Error(), ShardOwnership{}
		}
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err = workflowservice.NewWorkflowServiceClient(fe).DescribeNamespace(cctx, &workflowservice.DescribeNamespaceRequest{Namespace: DefaultNamespace})
		cancel()
		if err != nil {
			return fmt.Sprintf("%s: namespace %s: %s", n.Name, DefaultNamespace, oneLine(err)), ShardOwnership{}
		}
		m, err := t.membershipVia(ctx, fe, n.Name)
		if err != nil {
			return oneLine(err), ShardOwnership{}
		}
		for svc, names := range want {
			slices.Sort(names)
			if !slices.Equal(m.Rings[svc], names) {
				return fmt.Sprintf("%s sees %s ring [%s], want [%s]", n.Name, svc, strings.Join(m.Rings[svc], ", "), strings.Join(names, ", ")), ShardOwnership{}
			}
		}
	}
	o, err := t.ShardOwnership(ctx)
	if err != nil {
		return oneLine(err), o
	}
	if p := o.Problems(); len(p) > 0 {
		return strings.Join(p, "; "), o
	}
	return "", o
}

// conn is a (lazily connecting) gRPC connection to a frontend.
func (t *Topology) conn(addr string) (*grpc.ClientConn, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("grpc client for %s: %w", addr, err)
	}
	t.conns[addr] = c
	return c, nil
}

// frontendConn is a connection to the first frontend node that answers
// (one may be killed or paused by a fault), and its name.
func (t *Topology) frontendConn(ctx context.Context) (*grpc.ClientConn, string, error) {
	var errs []error
	for _, n := range t.nodes {
		if n.Service != ServiceFrontend {
			continue
		}
		c, err := t.conn(n.DialAddress())
		if err != nil {
			return nil, "", err
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = workflowservice.NewWorkflowServiceClient(c).GetSystemInfo(cctx, &workflowservice.GetSystemInfoRequest{})
		cancel()
		if err == nil {
			return c, n.Name, nil
		}
		errs = append(errs, fmt.Errorf("%s: %s", n.Name, oneLine(err)))
	}
	return nil, "", fmt.Errorf("no frontend answers: %w", errors.Join(errs...))
}
