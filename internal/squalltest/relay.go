package squalltest

import (
	"io"
	"net"
	"testing"
)

// RelayFromBridge forwards connections to the docker0 bridge's address
// (which containers reach) to target, until the test ends; it returns the
// address to dial. The project's Postgres listens on loopback only, which
// inside a container is the container itself. No docker0: the test skips.
func RelayFromBridge(t testing.TB, target string) string {
	t.Helper()
	iface, err := net.InterfaceByName("docker0")
	if err != nil {
		t.Skipf("no docker0 bridge: %v", err)
	}
	addrs, err := iface.Addrs()
	var ip net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			ip = n.IP
		}
	}
	if err != nil || ip == nil {
		t.Skipf("docker0 has no IPv4 address: %v", err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer out.Close()
				go func() { _, _ = io.Copy(out, in); out.(*net.TCPConn).CloseWrite() }()
				_, _ = io.Copy(in, out)
			}()
		}
	}()
	return l.Addr().String()
}
