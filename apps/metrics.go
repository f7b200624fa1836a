package apps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldsse/herald/hub"
)

// The system metrics dashboard: a sampler goroutine, owned by Apps, reads
// the machine's numbers from /proc and the hub's own from Hub.Stats once per
// MetricsInterval and publishes them as one JSON event on MetricsTopic, the
// way any publisher would. The page follows the topic on GET /events; to draw
// the last minutes at once when it opens, it first asks GET
// /metrics/history, which reads the samples the hub's history still holds
// (a FromStart subscription) and answers the last ones with the ID of the
// newest, so the page's stream resumes right after it, with no gap and no
// duplicate.
//
// Each rate (CPU %, bytes/s, events/s) is the difference between two
// readings divided by the time between them, so the sampler takes a first
// reading when it starts and publishes from the second one on. Where /proc
// is missing (not Linux) or a file cannot be parsed, that part of the sample
// is null; the hub's numbers are always there.

// MetricsTopic is the topic the sampler publishes on.
const MetricsTopic = "system/metrics"

// DefaultMetricsInterval is the time between two samples when
// Options.MetricsInterval is zero.
const DefaultMetricsInterval = time.Second

// maxMetricsHistory is how many samples GET /metrics/history answers at
// most: five minutes at the default interval.
const maxMetricsHistory = 300

// metricsSample is the data of one event on MetricsTopic. A pointer field
// is null when its numbers could not be read.
type metricsSample struct {
	Time       time.Time      `json:"time"`        // when the sample was taken
	IntervalMS float64        `json:"interval_ms"` // time since the previous reading, in ms
	CPUPercent *float64       `json:"cpu_percent"` // busy share of all CPUs since the previous reading, 0 to 100
	Memory     *memorySample  `json:"memory"`
	Load       *loadSample    `json:"load"`
	Network    *networkSample `json:"network"`
	Herald     heraldSample   `json:"herald"`
}

// memorySample is memory in bytes, from /proc/meminfo. Used is Total minus
// Available: what the kernel could not give to a new program without
// swapping.
type memorySample struct {
	TotalBytes     uint64 `json:"total_bytes"`
	UsedBytes      uint64 `json:"used_bytes"`
	AvailableBytes uint64 `json:"available_bytes"`
}

// loadSample is the load averages of /proc/loadavg.
type loadSample struct {
	Load1  float64 `json:"load1"`
	Load5  float64 `json:"load5"`
	Load15 float64 `json:"load15"`
}

// networkSample is the traffic since the previous reading, in bytes per
// second: In and Out sum every interface except loopback, which is given
// apart (herald's own streams to a local browser travel on it).
type networkSample struct {
	InBytesPerSec          float64 `json:"in_bytes_per_sec"`
	OutBytesPerSec         float64 `json:"out_bytes_per_sec"`
	LoopbackInBytesPerSec  float64 `json:"loopback_in_bytes_per_sec"`
	LoopbackOutBytesPerSec float64 `json:"loopback_out_bytes_per_sec"`
}

// heraldSample is the hub's own numbers (hub.Stats): subscriptions open now,
// and events published and delivered per second since the previous reading,
// with their totals. The sampler's own events count among them.
type heraldSample struct {
	Streams         int     `json:"streams"`
	PublishedPerSec float64 `json:"published_per_sec"`
	DeliveredPerSec float64 `json:"delivered_per_sec"`
	PublishedTotal  uint64  `json:"published_total"`
	DeliveredTotal  uint64  `json:"delivered_total"`
	SlowDisconnects uint64  `json:"slow_disconnects"`
}

// ---- /proc parsers: pure functions over the files' text ----

// cpuTimes is the first line of /proc/stat, in clock ticks: Total sums
// user, nice, system, idle, iowait, irq, softirq and steal (guest time is
// already counted in user and nice); Idle is idle plus iowait.
type cpuTimes struct {
	Total, Idle uint64
}

// parseCPUTimes reads the aggregate "cpu" line of /proc/stat. Kernels
// older than 2.6.11 give fewer than eight columns; at least four (up to
// idle) are required.
func parseCPUTimes(stat string) (cpuTimes, error) {
	for line := range strings.Lines(stat) {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != "cpu" {
			continue
		}
		cols := fields[1:]
		if len(cols) < 4 {
			return cpuTimes{}, fmt.Errorf("/proc/stat: cpu line has %d columns, want at least 4", len(cols))
		}
		cols = cols[:min(len(cols), 8)]
		var t cpuTimes
		for i, c := range cols {
			v, err := strconv.ParseUint(c, 10, 64)
			if err != nil {
				return cpuTimes{}, fmt.Errorf("/proc/stat: cpu column %d: %w", i+1, err)
			}
			t.Total += v
			if i == 3 || i == 4 { // idle, iowait
				t.Idle += v
			}
		}
		return t, nil
	}
	return cpuTimes{}, errors.New("/proc/stat: no cpu line")
}

// cpuPercent returns the busy share of the CPUs between two readings, from
// 0 to 100, or false when the counters did not advance or went back.
func cpuPercent(prev, cur cpuTimes) (float64, bool) {
	if cur.Total <= prev.Total || cur.Idle < prev.Idle {
		return 0, false
	}
	total := float64(cur.Total - prev.Total)
	idle := float64(cur.Idle - prev.Idle)
	return clamp(100*(total-idle)/total, 0, 100), true
}

// parseMeminfo reads /proc/meminfo, whose values are in kB (KiB). It needs
// MemTotal and MemAvailable; before Linux 3.14, which has no MemAvailable,
// it counts MemFree + Buffers + Cached as available.
func parseMeminfo(meminfo string) (memorySample, error) {
	kb := make(map[string]uint64)
	for line := range strings.Lines(meminfo) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue // not a "Name: value" line
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			continue // a malformed line says nothing about the others
		}
		if len(fields) > 1 && fields[1] == "kB" {
			if v > math.MaxUint64/1024 {
				continue
			}
			v *= 1024
		}
		kb[strings.TrimSpace(name)] = v
	}
	total, ok := kb["MemTotal"]
	if !ok || total == 0 {
		return memorySample{}, errors.New("/proc/meminfo: no MemTotal")
	}
	avail, ok := kb["MemAvailable"]
	if !ok {
		free, ok := kb["MemFree"]
		if !ok {
			return memorySample{}, errors.New("/proc/meminfo: neither MemAvailable nor MemFree")
		}
		avail = free + kb["Buffers"] + kb["Cached"]
	}
	avail = min(avail, total)
	return memorySample{TotalBytes: total, UsedBytes: total - avail, AvailableBytes: avail}, nil
}

// parseLoadavg reads the three load averages at the start of /proc/loadavg.
func parseLoadavg(loadavg string) (loadSample, error) {
	fields := strings.Fields(loadavg)
	if len(fields) < 3 {
		return loadSample{}, fmt.Errorf("/proc/loadavg: %d fields, want at least 3", len(fields))
	}
	var v [3]float64
	for i := range v {
		f, err := strconv.ParseFloat(fields[i], 64)
		if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
			return loadSample{}, fmt.Errorf("/proc/loadavg: field %d: %q is not a load", i+1, fields[i])
		}
		v[i] = f
	}
	return loadSample{Load1: v[0], Load5: v[1], Load15: v[2]}, nil
}

// netCounters is the byte counters of /proc/net/dev: In and Out summed over
// every interface but loopback ("lo"), which is counted apart.
type netCounters struct {
	In, Out, LoopIn, LoopOut uint64
}

// parseNetDev reads /proc/net/dev: two header lines, then one line per
// interface, "name: " and 16 counters, received bytes first and transmitted
// bytes ninth. A malformed interface line is skipped; the file must hold at
// least one good one.
func parseNetDev(netdev string) (netCounters, error) {
	var c netCounters
	good := 0
	for line := range strings.Lines(netdev) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue // a header line
		}
		name = strings.TrimSpace(name)
		fields := strings.Fields(rest)
		if name == "" || strings.Contains(name, "|") || len(fields) < 16 {
			continue
		}
		in, err1 := strconv.ParseUint(fields[0], 10, 64)
		out, err2 := strconv.ParseUint(fields[8], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		good++
		if name == "lo" {
			c.LoopIn += in
			c.LoopOut += out
		} else {
			c.In += in
			c.Out += out
		}
	}
	if good == 0 {
		return netCounters{}, errors.New("/proc/net/dev: no interface line")
	}
	return c, nil
}

// perSecond returns how fast a counter grew from prev to cur over dt, or
// false when dt is not positive or the counter went back (it wrapped, or an
// interface went away).
func perSecond(prev, cur uint64, dt time.Duration) (float64, bool) {
	if dt <= 0 || cur < prev {
		return 0, false
	}
	return float64(cur-prev) / dt.Seconds(), true
}

func clamp(v, lo, hi float64) float64 { return min(max(v, lo), hi) }

// ---- the sampler ----

// metricsReading is what the sampler read at one instant: the counters that
// rates are computed from. A nil pointer is a counter it could not read.
type metricsReading struct {
	at    time.Time
	cpu   *cpuTimes
	net   *netCounters
	stats hub.Stats
}

// metricsSampler turns readings into samples. Its fields are set once; its
// methods are called from one goroutine.
type metricsSampler struct {
	readFile func(name string) ([]byte, error) // os.ReadFile; tests feed fixtures
	now      func() time.Time
	stats    func() hub.Stats
	prev     metricsReading
}

// read returns the contents of a /proc file, or "" and false.
func (s *metricsSampler) read(name string) (string, bool) {
	b, err := s.readFile(name)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// reading reads the counters now.
func (s *metricsSampler) reading() metricsReading {
	return metricsReading{
		at:    s.now(),
		stats: s.stats(),
		cpu:   readProc(s, "/proc/stat", parseCPUTimes),
		net:   readProc(s, "/proc/net/dev", parseNetDev),
	}
}

// readProc reads the file name and parses it, or returns nil when either
// fails: a sample leaves out what this system does not offer.
func readProc[T any](s *metricsSampler, name string, parse func(string) (T, error)) *T {
	text, ok := s.read(name)
	if !ok {
		return nil
	}
	v, err := parse(text)
	if err != nil {
		return nil
	}
	return &v
}

// start takes the first reading, which the first sample's rates start from.
func (s *metricsSampler) start() { s.prev = s.reading() }

// sample takes a reading and returns the sample since the previous one.
func (s *metricsSampler) sample() metricsSample {
	cur := s.reading()
	out := sampleBetween(s.prev, cur)
	s.prev = cur
	out.Memory = readProc(s, "/proc/meminfo", parseMeminfo)
	out.Load = readProc(s, "/proc/loadavg", parseLoadavg)
	return out
}

// sampleBetween computes the rates of a sample from two readings.
func sampleBetween(prev, cur metricsReading) metricsSample {
	dt := cur.at.Sub(prev.at)
	out := metricsSample{
		Time:       cur.at,
		IntervalMS: float64(dt) / float64(time.Millisecond),
		Herald: heraldSample{
			Streams:         cur.stats.Subscribers,
			PublishedTotal:  cur.stats.Published,
			DeliveredTotal:  cur.stats.Delivered,
			SlowDisconnects: cur.stats.SlowDisconnects,
		},
	}
	out.Herald.PublishedPerSec, _ = perSecond(prev.stats.Published, cur.stats.Published, dt)
	out.Herald.DeliveredPerSec, _ = perSecond(prev.stats.Delivered, cur.stats.Delivered, dt)
	if prev.cpu != nil && cur.cpu != nil {
		if p, ok := cpuPercent(*prev.cpu, *cur.cpu); ok {
			out.CPUPercent = &p
		}
	}
	if prev.net != nil && cur.net != nil && dt > 0 {
		var n networkSample
		var ok [4]bool
		n.InBytesPerSec, ok[0] = perSecond(prev.net.In, cur.net.In, dt)
		n.OutBytesPerSec, ok[1] = perSecond(prev.net.Out, cur.net.Out, dt)
		n.LoopbackInBytesPerSec, ok[2] = perSecond(prev.net.LoopIn, cur.net.LoopIn, dt)
		n.LoopbackOutBytesPerSec, ok[3] = perSecond(prev.net.LoopOut, cur.net.LoopOut, dt)
		if ok == [4]bool{true, true, true, true} {
			out.Network = &n
		}
	}
	return out
}

// metricsRunner is the sampler's goroutine: started by startMetrics, stopped
// and waited for by close.
type metricsRunner struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startMetrics starts the sampler, which publishes a sample on MetricsTopic
// every MetricsInterval until close is called.
func (a *Apps) startMetrics() *metricsRunner {
	s := &metricsSampler{readFile: os.ReadFile, now: time.Now, stats: a.hub.Stats}
	ctx, cancel := context.WithCancel(context.Background())
	m := &metricsRunner{cancel: cancel}
	m.wg.Go(func() { a.runMetrics(ctx, s) })
	return m
}

// runMetrics publishes a sample every MetricsInterval until ctx ends.
func (a *Apps) runMetrics(ctx context.Context, s *metricsSampler) {
	tick := time.NewTicker(a.opts.MetricsInterval)
	defer tick.Stop()
	s.start()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		data, err := json.Marshal(s.sample())
		if err == nil {
			_, err = a.hub.Publish(ctx, hub.Message{Topic: MetricsTopic, Type: "metrics", Data: string(data)})
		}
		switch {
		case ctx.Err() != nil:
			return // closed while publishing
		case err != nil && !failing:
			// Logged once per run of failures, not once a second.
			failing = true
			a.log.Warn("metrics: sample not published", "topic", MetricsTopic, "err", err)
		case err == nil && failing:
			failing = false
			a.log.Info("metrics: samples published again", "topic", MetricsTopic)
		}
	}
}

// close stops the sampler and waits for it, or returns an error wrapping
// ctx.Err() if ctx ends first.
func (m *metricsRunner) close(ctx context.Context) error {
	m.cancel()
	if err := waitGroup(ctx, &m.wg); err != nil {
		return fmt.Errorf("apps: close metrics sampler: %w", err)
	}
	return nil
}

// metricsHistory is the body of GET /metrics/history.
type metricsHistory struct {
	// Samples are the newest samples the hub's history holds, oldest first.
	Samples []json.RawMessage `json:"samples"`
	// LastEventID is the hub's ID of the newest sample, empty when there
	// is none: the page subscribes with it as lastEventId, so its stream
	// starts right after the samples it has.
	LastEventID string `json:"last_event_id"`
}

// routeMetrics registers the dashboard's routes.
func (a *Apps) routeMetrics(mux *routeMux) {
	mux.HandleFunc("GET /metrics/history", a.metricsHistory)
}

// metricsHistory serves GET /metrics/history?limit=N: the last N samples
// (default and most 300) of the hub's history on MetricsTopic. It answers
// 400 when limit is not an integer from 1 to 300.
func (a *Apps) metricsHistory(w http.ResponseWriter, r *http.Request) {
	limit := maxMetricsHistory
	if q := r.URL.Query(); q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > maxMetricsHistory {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit must be an integer from 1 to %d, not %q", maxMetricsHistory, q.Get("limit")))
			return
		}
		limit = n
	}
	if a.refuseClosed(w) {
		return
	}
	ctx := r.Context()
	sub, err := a.hub.Subscribe(ctx, hub.SubscribeRequest{Topics: []string{MetricsTopic}, FromStart: true, MarkReplayed: true})
	if err != nil {
		if errors.Is(err, hub.ErrClosed) || ctx.Err() != nil {
			writeError(w, http.StatusServiceUnavailable, "shutting down")
			return
		}
		a.log.Error("metrics history: subscribe failed", "err", err)
		writeError(w, http.StatusInternalServerError, "cannot read the metrics history")
		return
	}
	defer sub.Close()
	body := metricsHistory{Samples: []json.RawMessage{}}
	// A ring of the last limit samples.
	ring := make([]json.RawMessage, 0, limit)
	next := 0
	_, err = readHistory(ctx, sub, func(ev hub.Event) {
		body.LastEventID = ev.ID
		if !isSample(ev) {
			return
		}
		if len(ring) < limit {
			ring = append(ring, json.RawMessage(ev.Data))
		} else {
			ring[next] = json.RawMessage(ev.Data)
			next = (next + 1) % limit
		}
	})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot read the metrics history")
		return
	}
	body.Samples = append(body.Samples, ring[next:]...)
	body.Samples = append(body.Samples, ring[:next]...)
	writeJSON(w, http.StatusOK, body)
}

// isSample reports whether ev looks like a sample: anyone may publish on
// MetricsTopic through the hub's API, and the page should not be fed what
// it cannot draw.
func isSample(ev hub.Event) bool {
	return ev.Type == "metrics" && strings.HasPrefix(ev.Data, "{") && json.Valid([]byte(ev.Data))
}
