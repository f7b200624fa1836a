//go:build !unix

package conn

import "syscall"

// rawWriter cannot write without waiting here: every write goes through a
// goroutine that may wait.
type rawWriter struct{}

func newRawWriter() *rawWriter { return &rawWriter{} }

func (*rawWriter) writeTo(syscall.RawConn, []byte) (int, error) { return 0, errWouldBlock }
