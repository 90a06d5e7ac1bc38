package cluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"time"

	"github.com/squallbench/squall/internal/sleep"
)

// CheckPortFree fails with a usage error when something already listens on ip:port.
func CheckPortFree(ip string, port int, flag string) error {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return Usagef("port %d is in use (%v): stop whatever listens there or pick another %s", port, err, flag)
	}
	return l.Close()
}

// FreePort asks the kernel for an unused loopback port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitTCP(ctx context.Context, hostPort string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", hostPort, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return err
		}
		if !sleep.For(ctx, 50*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// InternalPorts is how many ports after the frontend port the embedded
// server uses for its internal services and membership.
const InternalPorts = 7

// FreePortRange finds a frontend port whose next InternalPorts ports are
// free too, for a server squall starts itself.
//
// It picks below the kernel's ephemeral range: the ports stay clear of
// outgoing connections, and PostgreSQL stores membership ports as a
// SMALLINT, so they must be below 32768.
func FreePortRange() (int, error) { return freePortBlock(InternalPorts+1, nil) }

// freePortBlock finds n consecutive free ports below MaxPostgresPort,
// none of them in taken (which it extends): several processes of one
// cluster pick their ports before any of them listens.
func freePortBlock(n int, taken map[int]bool) (int, error) {
	for try := 0; try < 200; try++ {
		base := freeRangeLow + rand.IntN(MaxPostgresPort-n+1-freeRangeLow)
		ok := true
		for i := 0; i < n && ok; i++ {
			ok = !taken[base+i] && CheckPortFree("127.0.0.1", base+i, "") == nil
		}
		if ok {
			for i := 0; i < n && taken != nil; i++ {
				taken[base+i] = true
			}
			return base, nil
		}
	}
	return 0, fmt.Errorf("no %d consecutive free ports for the embedded server", n)
}

// MaxPostgresPort is the highest frontend+internal port a server on
// PostgreSQL can use (cluster_membership.rpc_port is a SMALLINT).
const MaxPostgresPort = 32767

const freeRangeLow = 20000

// MaxShards bounds --shards: every shard is a queue processor set and a
// few connections; far more than a one-machine server can use.
const MaxShards = 1024
