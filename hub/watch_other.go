//go:build !linux

package hub

import (
	"net"
	"syscall"
)

// poller is Linux's epoll watcher; elsewhere each connection is watched by
// a goroutine reading it.
type poller struct{}

func newPoller() (*poller, error)                { return nil, syscall.ENOSYS }
func (*poller) add(net.Conn, *Subscription) bool { return false }
func (*poller) remove(uint64)                    {}
func (*poller) run()                             {}
func (*poller) stop()                            {}
