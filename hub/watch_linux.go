package hub

import (
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
)

// poller notices clients closing their connections with one epoll
// instance and one goroutine for every connection of the hub, instead of a
// goroutine blocked reading each: an idle subscriber then has no goroutine
// at all. The descriptors stay in the Go runtime's own poller too; this
// one only watches for the peer's end (EPOLLRDHUP) and for bytes arriving.
type poller struct {
	epfd int
	wake [2]int // a pipe: a byte written to wake[1] stops the loop

	mu    sync.Mutex
	subs  map[uint64]watched
	token uint64
}

// edgeTriggered is EPOLLET, which as a constant overflows the field's type.
const edgeTriggered = 1 << 31

type watched struct {
	s     *Subscription
	raw   syscall.RawConn
	bytes int
}

func newPoller() (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	p := &poller{epfd: epfd, subs: make(map[uint64]watched)}
	if err := syscall.Pipe2(p.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	setToken(&ev, 0) // token 0 is the wake-up pipe
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		p.closeFDs()
		return nil, err
	}
	return p, nil
}

func setToken(ev *syscall.EpollEvent, t uint64) {
	ev.Fd, ev.Pad = int32(uint32(t)), int32(uint32(t>>32))
}

func token(ev *syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// add watches c for s. It reports false when c has no descriptor to watch.
func (p *poller) add(c net.Conn, s *Subscription) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	p.mu.Lock()
	p.token++
	t := p.token
	p.subs[t] = watched{s: s, raw: raw}
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | edgeTriggered}
	setToken(&ev, t)
	var cerr error
	err = raw.Control(func(fd uintptr) {
		cerr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		p.mu.Lock()
		delete(p.subs, t)
		p.mu.Unlock()
		return false
	}
	s.mu.Lock()
	if cs := s.conn; cs != nil && cs.finished {
		// The connection ended (and was closed, leaving the set) before
		// it was watched: finish saw no token to forget.
		s.mu.Unlock()
		p.remove(t)
		return true
	}
	s.watchToken = t
	s.mu.Unlock()
	return true
}

// remove forgets a subscription whose connection is closed; closing the
// descriptor took it out of the epoll set.
func (p *poller) remove(t uint64) {
	if t == 0 {
		return
	}
	p.mu.Lock()
	delete(p.subs, t)
	p.mu.Unlock()
}

func (p *poller) run() {
	defer p.closeFDs()
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if errors.Is(err, syscall.EINTR) {
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

// handle ends the subscription whose client hung up, and drains (and
// counts) what a client sent.
func (p *poller) handle(t uint64, events uint32) {
	p.mu.Lock()
	w, ok := p.subs[t]
	p.mu.Unlock()
	if !ok {
		return
	}
	if events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		w.s.end(clientClosed(io.EOF))
		return
	}
	var buf [512]byte
	var rerr error
	n := 0
	err := w.raw.Read(func(fd uintptr) bool {
		for {
			m, err := syscall.Read(int(fd), buf[:])
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
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
		w.s.end(clientClosed(err))
		return
	}
	p.mu.Lock()
	w.bytes += n
	p.subs[t] = w
	p.mu.Unlock()
	if w.bytes > maxClientBytes {
		w.s.end(clientFlooded(w.bytes))
	}
}

// stop makes run return.
func (p *poller) stop() { _, _ = syscall.Write(p.wake[1], []byte{0}) }

func (p *poller) closeFDs() {
	syscall.Close(p.wake[0])
	syscall.Close(p.wake[1])
	syscall.Close(p.epfd)
}
