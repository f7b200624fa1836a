package apps_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/heraldsse/herald/apps"
	"github.com/heraldsse/herald/hub"
)

// metricsSample mirrors the data of an event on apps.MetricsTopic: the test
// decodes it strictly, so a field added, renamed or missing fails it.
type metricsSample struct {
	Time       time.Time `json:"time"`
	IntervalMS float64   `json:"interval_ms"`
	CPUPercent *float64  `json:"cpu_percent"`
	Memory     *struct {
		TotalBytes     uint64 `json:"total_bytes"`
		UsedBytes      uint64 `json:"used_bytes"`
		AvailableBytes uint64 `json:"available_bytes"`
	} `json:"memory"`
	Load *struct {
		Load1  float64 `json:"load1"`
		Load5  float64 `json:"load5"`
		Load15 float64 `json:"load15"`
	} `json:"load"`
	Network *struct {
		In      float64 `json:"in_bytes_per_sec"`
		Out     float64 `json:"out_bytes_per_sec"`
		LoopIn  float64 `json:"loopback_in_bytes_per_sec"`
		LoopOut float64 `json:"loopback_out_bytes_per_sec"`
	} `json:"network"`
	Herald struct {
		Streams         int     `json:"streams"`
		PublishedPerSec float64 `json:"published_per_sec"`
		DeliveredPerSec float64 `json:"delivered_per_sec"`
		PublishedTotal  uint64  `json:"published_total"`
		DeliveredTotal  uint64  `json:"delivered_total"`
		SlowDisconnects uint64  `json:"slow_disconnects"`
	} `json:"herald"`
}

// metricsOptions samples every 10 ms.
func metricsOptions(h *hub.Hub) apps.Options {
	o := fast()
	o.Hub = h
	o.MetricsInterval = 10 * time.Millisecond
	return o
}

// nextSamples subscribes to the metrics topic, as a user's app would, and
// returns the next n events on it.
func nextSamples(ctx context.Context, t *testing.T, h *hub.Hub, n int) []hub.Event {
	t.Helper()
	sub, err := h.Subscribe(ctx, hub.SubscribeRequest{Topics: []string{apps.MetricsTopic}})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer sub.Close()
	var evs []hub.Event
	for ev, err := range sub.Events(ctx) {
		if err != nil {
			t.Fatalf("Events: %v", err)
		}
		if !strings.HasPrefix(ev.Data, "{") {
			continue // not a sample: TestMetricsHistory publishes one
		}
		if evs = append(evs, ev); len(evs) == n {
			break
		}
	}
	return evs
}

func TestMetricsPublished(t *testing.T) {
	h := newHub(t)
	newApps(t, metricsOptions(h))
	ctx := testCtx(t)
	before := time.Now()
	evs := nextSamples(ctx, t, h, 3)
	var prev time.Time
	for i, ev := range evs {
		if ev.Topic != apps.MetricsTopic || ev.Type != "metrics" || ev.ID == "" {
			t.Errorf("event topic %q, type %q, ID %q; want %q, \"metrics\", an ID", ev.Topic, ev.Type, ev.ID, apps.MetricsTopic)
		}
		var s metricsSample
		decodeStrict(t, ev.Data, &s)
		if s.Time.Before(before.Add(-time.Second)) || s.Time.After(time.Now().Add(time.Second)) || !s.Time.After(prev) {
			t.Errorf("time %v: not now, or not after the previous sample's %v", s.Time, prev)
		}
		prev = s.Time
		if s.IntervalMS <= 0 || s.IntervalMS > 5000 {
			t.Errorf("interval_ms %v, want about 10", s.IntervalMS)
		}
		if runtime.GOOS == "linux" {
			// CPU % needs the counters to advance, which they may not in
			// 10 ms; the rest is always there on Linux.
			if s.Memory == nil || s.Load == nil || s.Network == nil {
				t.Fatalf("on Linux, a sample without memory, load or network: %s", ev.Data)
			}
		}
		if c := s.CPUPercent; c != nil && (*c < 0 || *c > 100) {
			t.Errorf("cpu_percent %v, want 0 to 100", *c)
		}
		if m := s.Memory; m != nil && (m.TotalBytes == 0 || m.UsedBytes+m.AvailableBytes != m.TotalBytes) {
			t.Errorf("memory %+v: want used + available = total > 0", *m)
		}
		if l := s.Load; l != nil && (l.Load1 < 0 || l.Load5 < 0 || l.Load15 < 0) {
			t.Errorf("load %+v, want non-negative", *l)
		}
		if n := s.Network; n != nil && (n.In < 0 || n.Out < 0 || n.LoopIn < 0 || n.LoopOut < 0) {
			t.Errorf("network %+v, want non-negative", *n)
		}
		// The subscription reading these is an open stream; the sampler's
		// own events are published and delivered to it, from the second
		// sample on (a sample is read before it is published).
		if s.Herald.Streams < 1 || (i > 0 && s.Herald.PublishedTotal < 1) || s.Herald.PublishedPerSec < 0 || s.Herald.DeliveredPerSec < 0 {
			t.Errorf("herald %+v: want a stream and published events", s.Herald)
		}
	}
}

// TestMetricsPublishedRates: herald's own rates follow the hub's counters.
// With one subscriber and nothing else published, the sampler's events are
// published and delivered to it: the totals grow from sample to sample,
// and the rates, computed from them, are positive where they grew. (One
// interval may see no delivery on a loaded machine, so no single sample's
// rate is required to be positive.)
func TestMetricsPublishedRates(t *testing.T) {
	h := newHub(t)
	newApps(t, metricsOptions(h))
	ctx := testCtx(t)
	evs := nextSamples(ctx, t, h, 6)
	samples := make([]metricsSample, len(evs))
	for i, ev := range evs {
		decodeStrict(t, ev.Data, &samples[i])
	}
	first, last := samples[1].Herald, samples[len(samples)-1].Herald
	if last.PublishedTotal <= first.PublishedTotal || last.DeliveredTotal <= first.DeliveredTotal {
		t.Fatalf("totals from the second sample to the last: %+v, then %+v; want both to grow", first, last)
	}
	for i := 2; i < len(samples); i++ {
		prev, cur := samples[i-1].Herald, samples[i].Herald
		if grew := cur.PublishedTotal > prev.PublishedTotal; grew != (cur.PublishedPerSec > 0) {
			t.Errorf("sample %d: published_total %d after %d, but published_per_sec %v", i, cur.PublishedTotal, prev.PublishedTotal, cur.PublishedPerSec)
		}
		if grew := cur.DeliveredTotal > prev.DeliveredTotal; grew != (cur.DeliveredPerSec > 0) {
			t.Errorf("sample %d: delivered_total %d after %d, but delivered_per_sec %v", i, cur.DeliveredTotal, prev.DeliveredTotal, cur.DeliveredPerSec)
		}
	}
}

type metricsHistory struct {
	Samples     []json.RawMessage `json:"samples"`
	LastEventID string            `json:"last_event_id"`
}

func getHistory(ctx context.Context, t *testing.T, url string) metricsHistory {
	t.Helper()
	resp, body := do(ctx, t, http.MethodGet, url)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d %s", url, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q", url, ct)
	}
	var hist metricsHistory
	decodeStrict(t, body, &hist)
	return hist
}

func TestMetricsHistory(t *testing.T) {
	h := newHub(t)
	ts := serve(t, newApps(t, metricsOptions(h)).Handler())
	ctx := testCtx(t)

	// Three samples, and something on the topic that is not one.
	nextSamples(ctx, t, h, 1)
	if _, err := h.Publish(ctx, hub.Message{Topic: apps.MetricsTopic, Type: "metrics", Data: "not json"}); err != nil {
		t.Fatal(err)
	}
	nextSamples(ctx, t, h, 2)

	all := getHistory(ctx, t, ts.URL+"/metrics/history")
	if len(all.Samples) < 3 || len(all.Samples) > 300 {
		t.Fatalf("history has %d samples, want 3 to 300", len(all.Samples))
	}
	var prev time.Time
	for _, raw := range all.Samples {
		var s metricsSample
		decodeStrict(t, string(raw), &s)
		if !s.Time.After(prev) {
			t.Errorf("sample at %v after one at %v: want oldest first", s.Time, prev)
		}
		prev = s.Time
	}

	two := getHistory(ctx, t, ts.URL+"/metrics/history?limit=2")
	if len(two.Samples) != 2 {
		t.Fatalf("history?limit=2 has %d samples", len(two.Samples))
	}
	var last metricsSample
	decodeStrict(t, string(two.Samples[1]), &last)

	// The stream resumed after last_event_id goes on from the newest sample.
	sub, err := h.Subscribe(ctx, hub.SubscribeRequest{Topics: []string{apps.MetricsTopic}, LastEventID: two.LastEventID})
	if err != nil {
		t.Fatalf("Subscribe after %q: %v", two.LastEventID, err)
	}
	defer sub.Close()
	for ev, err := range sub.Events(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == hub.TypeGap {
			t.Fatalf("gap after last_event_id %q: %s", two.LastEventID, ev.Data)
		}
		var s metricsSample
		decodeStrict(t, ev.Data, &s)
		if !s.Time.After(last.Time) {
			t.Errorf("first sample after last_event_id at %v, not after the history's newest, %v", s.Time, last.Time)
		}
		break
	}
}

func TestMetricsHistoryEmpty(t *testing.T) {
	o := metricsOptions(nil)
	o.MetricsInterval = time.Hour
	ts := serve(t, newApps(t, o).Handler())
	hist := getHistory(testCtx(t), t, ts.URL+"/metrics/history")
	if len(hist.Samples) != 0 || hist.LastEventID != "" {
		t.Errorf("history %+v, want no samples and no ID", hist)
	}
}

func TestMetricsHistoryBadLimit(t *testing.T) {
	ts := serve(t, newApps(t, metricsOptions(nil)).Handler())
	ctx := testCtx(t)
	for _, tt := range []struct{ name, limit string }{
		{"empty", ""},
		{"zero", "0"},
		{"negative", "-1"},
		{"above 300", "301"},
		{"not a number", "ten"},
		{"fraction", "1.5"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(ctx, t, http.MethodGet, ts.URL+"/metrics/history?limit="+tt.limit)
			checkJSONError(t, resp, body, http.StatusBadRequest)
		})
	}
}

func TestMetricsIntervalNegative(t *testing.T) {
	_, err := apps.New(apps.Options{Hub: newHub(t), MetricsInterval: -time.Second})
	if !errors.Is(err, apps.ErrInvalidOptions) {
		t.Errorf("New with a negative MetricsInterval: %v, want ErrInvalidOptions", err)
	}
}

// TestMetricsStopOnClose: once Close returns, the sampler has stopped.
func TestMetricsStopOnClose(t *testing.T) {
	h := newHub(t)
	a, err := apps.New(metricsOptions(h))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	nextSamples(ctx, t, h, 1)
	if err := a.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	published := h.Stats().Published
	// Ten intervals: a sampler still running would publish again.
	time.Sleep(100 * time.Millisecond)
	if got := h.Stats().Published; got != published {
		t.Errorf("%d events published after Close, want none", got-published)
	}
}
