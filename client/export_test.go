package client

import (
	"context"
	"time"
)

// SetSleep replaces how c waits before reconnecting, so tests can see the
// waits without spending them.
func SetSleep(c *Conn, f func(ctx context.Context, d time.Duration) error) { c.sleep = f }
