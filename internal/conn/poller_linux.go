package conn

import (
	"errors"
	"io"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// poller notices clients closing their connections with one epoll
// instance and one goroutine for every connection of the engine, instead
// of a goroutine blocked reading each: an idle stream then has no
// goroutine at all. The descriptors stay in the Go runtime's own poller
// too; this one only watches for the peer's end (EPOLLRDHUP) and for bytes
// arriving.
type poller struct {
	epfd int
	wake [2]int // a pipe: a byte written to wake[1] stops the loop

	mu    sync.Mutex
	conns map[uint64]watched
	last  uint64 // the last token given; token 0 is the pipe
}

type watched struct {
	s     *served
	raw   syscall.RawConn
	bytes int // what the client sent so far
}

func newPoller() (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	p := &poller{epfd: epfd, conns: make(map[uint64]watched)}
	if err := unix.Pipe2(p.wake[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		unix.Close(epfd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setToken(&ev, 0)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		p.closeFDs()
		return nil, err
	}
	return p, nil
}

// setToken and token keep a 64-bit token in the event's data, which
// x/sys/unix splits into Fd and Pad.
func setToken(ev *unix.EpollEvent, t uint64) {
	ev.Fd, ev.Pad = int32(uint32(t)), int32(uint32(t>>32))
}

func token(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// add watches s's connection. It reports false when there is no
// descriptor to watch.
func (p *poller) add(s *served) bool {
	if s.raw == nil {
		return false
	}
	p.mu.Lock()
	p.last++
	t := p.last
	p.conns[t] = watched{s: s, raw: s.raw}
	p.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET}
	setToken(&ev, t)
	var cerr error
	err := s.raw.Control(func(fd uintptr) {
		cerr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		p.remove(t)
		return false
	}
	s.mu.Lock()
	if s.finished {
		// The connection ended (and, closed, left the set) before it was
		// watched: finish saw no token to forget.
		s.mu.Unlock()
		p.remove(t)
		return true
	}
	s.token = t
	s.mu.Unlock()
	return true
}

// remove forgets a connection; closing its descriptor took it out of the
// epoll set.
func (p *poller) remove(t uint64) {
	p.mu.Lock()
	delete(p.conns, t)
	p.mu.Unlock()
}

func (p *poller) run() {
	defer p.closeFDs()
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		for i := range events[:n] {
			t := token(&events[i])
			if t == 0 {
				return
			}
			p.handle(t, events[i].Events)
		}
	}
}

// handle ends the stream of a client that hung up, and drains (and counts)
// what a client sent.
func (p *poller) handle(t uint64, events uint32) {
	p.mu.Lock()
	w, ok := p.conns[t]
	p.mu.Unlock()
	if !ok {
		return
	}
	if events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		w.s.endSource(clientGone(io.EOF))
		return
	}
	var buf [512]byte
	var rerr error
	n := 0
	err := w.raw.Read(func(fd uintptr) bool {
		for {
			m, err := unix.Read(int(fd), buf[:])
			switch {
			case err == unix.EINTR:
				continue
			case err == unix.EAGAIN:
			case err != nil:
				rerr = err
			case m == 0:
				rerr = io.EOF
			default:
				n += m
				continue
			}
			return true
		}
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		w.s.endSource(clientGone(err))
		return
	}
	p.mu.Lock()
	w.bytes += n
	p.conns[t] = w
	p.mu.Unlock()
	if w.bytes > maxClientBytes {
		w.s.endSource(clientFlooded(w.bytes))
	}
}

// stop makes run return.
func (p *poller) stop() { _, _ = unix.Write(p.wake[1], []byte{0}) }

func (p *poller) closeFDs() {
	unix.Close(p.wake[0])
	unix.Close(p.wake[1])
	unix.Close(p.epfd)
}
