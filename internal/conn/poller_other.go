//go:build !linux

package conn

import "errors"

// poller is Linux's epoll watcher; elsewhere a goroutine reads each
// connection.
type poller struct{}

func newPoller() (*poller, error) { return nil, errors.ErrUnsupported }
func (*poller) add(*served) bool  { return false }
func (*poller) remove(uint64)     {}
func (*poller) run()              {}
func (*poller) stop()             {}
