package apps

import (
	"net/http"
	"strconv"
	"time"

	"github.com/heraldsse/herald/sse"
)

// The JSON payloads below are spelled as the tutorial's Python json.dumps
// spells them ({"count": 1, "time": 1700000000.123456}), so a client written
// for the tutorial sees the same bytes.

// counterStream serves GET /stream: unnamed events with data
// {"count": n, "time": <unix seconds>}, one every StreamInterval.
func (a *Apps) counterStream(w http.ResponseWriter, r *http.Request) {
	a.serveStream(w, r, func(st *sse.Stream) {
		a.count(st, 1, a.opts.StreamInterval, func(n int64) sse.Event {
			b := []byte(`{"count": `)
			b = strconv.AppendInt(b, n, 10)
			b = append(b, `, "time": `...)
			b = appendUnixSeconds(b, time.Now())
			return sse.Event{Data: string(append(b, '}'))}
		})
	})
}

// namedEventStream serves GET /advanced-stream: for each n, an event of type
// "counter" with data {"count": n} when n is even, else one of type "time"
// with data {"time": <unix seconds>}, one every AdvancedInterval.
func (a *Apps) namedEventStream(w http.ResponseWriter, r *http.Request) {
	a.serveStream(w, r, func(st *sse.Stream) {
		a.count(st, 1, a.opts.AdvancedInterval, func(n int64) sse.Event {
			if n%2 == 0 {
				b := strconv.AppendInt([]byte(`{"count": `), n, 10)
				return sse.Event{Type: "counter", Data: string(append(b, '}'))}
			}
			b := appendUnixSeconds([]byte(`{"time": `), time.Now())
			return sse.Event{Type: "time", Data: string(append(b, '}'))}
		})
	})
}

// idStream serves GET /stream-with-id: events with ID n and data
// {"message": "Update #n"}, one every IDInterval. It starts after the ID the
// client last received (see [resumeAfter]), or at 1.
func (a *Apps) idStream(w http.ResponseWriter, r *http.Request) {
	a.serveStream(w, r, func(st *sse.Stream) {
		start := resumeAfter(st.LastEventID()) + 1
		a.count(st, start, a.opts.IDInterval, func(n int64) sse.Event {
			id := strconv.FormatInt(n, 10)
			return sse.Event{ID: id, Data: `{"message": "Update #` + id + `"}`}
		})
	})
}

// count sends event(n) for n = start, start+1, ..., the first at once and
// then one every interval, until the stream ends or the apps close.
func (a *Apps) count(st *sse.Stream, start int64, interval time.Duration, event func(n int64) sse.Event) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for n := start; ; n++ {
		if err := st.Send(event(n)); err != nil {
			return
		}
		select {
		case <-tick.C:
		case <-st.Done():
			return
		case <-a.done:
			return
		}
	}
}

// maxResumeID is the largest Last-Event-ID that /stream-with-id resumes
// after: JavaScript's Number.MAX_SAFE_INTEGER, so that every ID it sends is
// exact as a JavaScript number.
const maxResumeID = 1<<53 - 1

// resumeAfter returns the count that the client's Last-Event-ID id names, or
// 0 when id is empty or malformed, so that the stream starts again from 1
// rather than failing. Well formed means 1 to 16 ASCII digits with a value up
// to maxResumeID: "abc", "-5", "+5", "1e3" and longer strings are malformed.
func resumeAfter(id string) int64 {
	if id == "" || len(id) > 16 {
		return 0
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return 0
		}
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n > maxResumeID {
		return 0
	}
	return n
}

// appendUnixSeconds appends t as seconds since the Unix epoch with six
// decimals, as Python's time.time() gives them.
func appendUnixSeconds(b []byte, t time.Time) []byte {
	us := t.UnixMicro()
	b = strconv.AppendInt(b, us/1e6, 10)
	frac := us % 1e6
	b = append(b, '.')
	for d := int64(1e5); d > 0; d /= 10 {
		b = append(b, byte('0'+frac/d%10))
	}
	return b
}
