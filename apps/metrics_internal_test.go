package apps

import (
	"encoding/json"
	"io/fs"
	"math"
	"os"
	"testing"
	"time"

	"github.com/heraldsse/herald/hub"
)

// The fixtures in testdata/metrics were captured from a Linux machine:
// /proc/stat (its first lines), /proc/meminfo, /proc/loadavg, /proc/net/dev.

func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/metrics/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseCPUTimes(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    cpuTimes
		wantErr bool
	}{
		{"fixture", fixture(t, "stat"), cpuTimes{Total: 1128016, Idle: 649567}, false},
		// guest and guest_nice (columns 9 and 10) are already in user and nice.
		{"guest not counted twice", "cpu  10 0 10 70 10 0 0 0 50 50\n", cpuTimes{Total: 100, Idle: 80}, false},
		{"old kernel, four columns", "cpu 1 2 3 4\n", cpuTimes{Total: 10, Idle: 4}, false},
		{"aggregate line after others", "intr 1 2\ncpu0 1 1 1 1\ncpu 2 2 2 2 2\n", cpuTimes{Total: 10, Idle: 4}, false},
		{"per-CPU lines only", "cpu0 1 2 3 4\ncpu1 1 2 3 4\n", cpuTimes{}, true},
		{"empty", "", cpuTimes{}, true},
		{"too few columns", "cpu 1 2 3\n", cpuTimes{}, true},
		{"not a number", "cpu 1 2 x 4\n", cpuTimes{}, true},
		{"negative", "cpu 1 -2 3 4\n", cpuTimes{}, true},
		{"no trailing newline", "cpu 1 1 1 1", cpuTimes{Total: 4, Idle: 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCPUTimes(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseMeminfo(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    memorySample
		wantErr bool
	}{
		{"fixture", fixture(t, "meminfo"), memorySample{
			TotalBytes:     24684092 * 1024,
			UsedBytes:      (24684092 - 23962100) * 1024,
			AvailableBytes: 23962100 * 1024,
		}, false},
		{"no MemAvailable (before Linux 3.14)", "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n",
			memorySample{TotalBytes: 1000 * 1024, UsedBytes: 600 * 1024, AvailableBytes: 400 * 1024}, false},
		{"malformed lines skipped", "garbage\nMemTotal: 1000 kB\nMemFree: lots kB\nBroken:\nMemAvailable: 250 kB\n",
			memorySample{TotalBytes: 1000 * 1024, UsedBytes: 750 * 1024, AvailableBytes: 250 * 1024}, false},
		{"available above total is capped", "MemTotal: 100 kB\nMemAvailable: 200 kB\n",
			memorySample{TotalBytes: 100 * 1024, AvailableBytes: 100 * 1024}, false},
		{"empty", "", memorySample{}, true},
		{"no MemTotal", "MemFree: 1 kB\nMemAvailable: 1 kB\n", memorySample{}, true},
		{"zero MemTotal", "MemTotal: 0 kB\nMemAvailable: 0 kB\n", memorySample{}, true},
		{"MemTotal not a number", "MemTotal: many kB\nMemAvailable: 1 kB\n", memorySample{}, true},
		{"neither MemAvailable nor MemFree", "MemTotal: 100 kB\n", memorySample{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMeminfo(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseLoadavg(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    loadSample
		wantErr bool
	}{
		{"fixture", fixture(t, "loadavg"), loadSample{2.14, 1.86, 2.10}, false},
		{"three fields only", "0.00 0.01 0.05", loadSample{0, 0.01, 0.05}, false},
		{"empty", "", loadSample{}, true},
		{"two fields", "0.1 0.2\n", loadSample{}, true},
		{"not a number", "0.1 high 0.3 1/2 3\n", loadSample{}, true},
		{"negative", "-1 0.2 0.3 1/2 3\n", loadSample{}, true},
		{"not finite", "NaN 0.2 0.3 1/2 3\n", loadSample{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseLoadavg(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseNetDev(t *testing.T) {
	const header = "Inter-|   Receive                                                |  Transmit\n" +
		" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
	line := func(name string, in, out string) string {
		return "  " + name + ": " + in + " 1 0 0 0 0 0 0 " + out + " 1 0 0 0 0 0 0\n"
	}
	tests := []struct {
		name    string
		in      string
		want    netCounters
		wantErr bool
	}{
		{"fixture", fixture(t, "net-dev"), netCounters{In: 273858804, Out: 665009, LoopIn: 2640255530, LoopOut: 2640255530}, false},
		{"interfaces summed", header + line("lo", "5", "6") + line("eth0", "10", "20") + line("wlan0", "1", "2"),
			netCounters{In: 11, Out: 22, LoopIn: 5, LoopOut: 6}, false},
		// Old kernels print no space after the colon for large counters.
		{"no space after colon", header + "  eth0:123 1 0 0 0 0 0 0 456 1 0 0 0 0 0 0\n", netCounters{In: 123, Out: 456}, false},
		{"malformed lines skipped", header + line("eth0", "10", "20") + "  eth1: 1 2 3\n" + line("eth2", "x", "1") + "junk\n",
			netCounters{In: 10, Out: 20}, false},
		{"loopback only", header + line("lo", "7", "8"), netCounters{LoopIn: 7, LoopOut: 8}, false},
		{"header only", header, netCounters{}, true},
		{"empty", "", netCounters{}, true},
		{"every line malformed", header + "  eth0: 1 2\n", netCounters{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseNetDev(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCPUPercent(t *testing.T) {
	tests := []struct {
		name      string
		prev, cur cpuTimes
		want      float64
		ok        bool
	}{
		{"quarter busy", cpuTimes{Total: 1000, Idle: 800}, cpuTimes{Total: 1400, Idle: 1100}, 25, true},
		{"idle", cpuTimes{Total: 1000, Idle: 800}, cpuTimes{Total: 1100, Idle: 900}, 0, true},
		{"busy", cpuTimes{Total: 1000, Idle: 800}, cpuTimes{Total: 1100, Idle: 800}, 100, true},
		{"no time passed", cpuTimes{Total: 1000, Idle: 800}, cpuTimes{Total: 1000, Idle: 800}, 0, false},
		{"counters went back", cpuTimes{Total: 1000, Idle: 800}, cpuTimes{Total: 900, Idle: 700}, 0, false},
		{"idle went back", cpuTimes{Total: 1000, Idle: 800}, cpuTimes{Total: 1100, Idle: 700}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := cpuPercent(tt.prev, tt.cur)
			if got != tt.want || ok != tt.ok {
				t.Errorf("cpuPercent = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestPerSecond(t *testing.T) {
	tests := []struct {
		name      string
		prev, cur uint64
		dt        time.Duration
		want      float64
		ok        bool
	}{
		{"one second", 100, 1100, time.Second, 1000, true},
		{"half a second", 100, 600, 500 * time.Millisecond, 1000, true},
		{"two seconds", 0, 10, 2 * time.Second, 5, true},
		{"unchanged", 7, 7, time.Second, 0, true},
		{"counter reset", 1000, 10, time.Second, 0, false},
		{"no time", 0, 10, 0, 0, false},
		{"time went back", 0, 10, -time.Second, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := perSecond(tt.prev, tt.cur, tt.dt)
			if got != tt.want || ok != tt.ok {
				t.Errorf("perSecond(%d, %d, %v) = %v, %v; want %v, %v", tt.prev, tt.cur, tt.dt, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// fakeProc is a /proc whose files a test sets.
type fakeProc map[string]string

func (p fakeProc) readFile(name string) ([]byte, error) {
	s, ok := p[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return []byte(s), nil
}

// TestSamplerRates drives the sampler with an injected clock, /proc and hub
// counters: every rate is the difference over the time between readings.
func TestSamplerRates(t *testing.T) {
	const netHeader = "Inter-|   Receive |  Transmit\n face |bytes packets|bytes packets\n"
	proc := fakeProc{
		"/proc/stat":    "cpu 100 0 100 800 0 0 0 0\n",
		"/proc/net/dev": netHeader + "  lo: 1000 1 0 0 0 0 0 0 1000 1 0 0 0 0 0 0\n  eth0: 5000 1 0 0 0 0 0 0 3000 1 0 0 0 0 0 0\n",
		"/proc/meminfo": "MemTotal: 1000 kB\nMemAvailable: 600 kB\n",
		"/proc/loadavg": "0.50 0.25 0.10 1/100 42\n",
	}
	now := time.Date(2026, 11, 26, 13, 0, 0, 0, time.UTC)
	stats := hub.Stats{Subscribers: 3, Published: 10, Delivered: 30}
	s := &metricsSampler{
		readFile: proc.readFile,
		now:      func() time.Time { return now },
		stats:    func() hub.Stats { return stats },
	}
	s.start()

	// Two seconds later: 50 % busy, 4000 B/s in, 1000 B/s out, 500 B/s on
	// loopback each way, 2 events/s published and 8 delivered.
	now = now.Add(2 * time.Second)
	proc["/proc/stat"] = "cpu 150 0 150 900 0 0 0 0\n"
	proc["/proc/net/dev"] = netHeader + "  lo: 2000 1 0 0 0 0 0 0 2000 1 0 0 0 0 0 0\n  eth0: 13000 1 0 0 0 0 0 0 5000 1 0 0 0 0 0 0\n"
	stats = hub.Stats{Subscribers: 4, Published: 14, Delivered: 46, SlowDisconnects: 1}
	got := s.sample()

	cpu := 50.0
	want := metricsSample{
		Time:       now,
		IntervalMS: 2000,
		CPUPercent: &cpu,
		Memory:     &memorySample{TotalBytes: 1000 * 1024, UsedBytes: 400 * 1024, AvailableBytes: 600 * 1024},
		Load:       &loadSample{0.5, 0.25, 0.1},
		Network:    &networkSample{InBytesPerSec: 4000, OutBytesPerSec: 1000, LoopbackInBytesPerSec: 500, LoopbackOutBytesPerSec: 500},
		Herald: heraldSample{Streams: 4, PublishedPerSec: 2, DeliveredPerSec: 8,
			PublishedTotal: 14, DeliveredTotal: 46, SlowDisconnects: 1},
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("sample\n got %s\nwant %s", gotJSON, wantJSON)
	}

	// The next sample starts from this reading: one second, nothing moved.
	now = now.Add(time.Second)
	got = s.sample()
	if got.CPUPercent != nil {
		t.Errorf("CPU %% with counters that did not advance: %v, want null", *got.CPUPercent)
	}
	if got.Network == nil || *got.Network != (networkSample{}) {
		t.Errorf("network %+v, want zero rates", got.Network)
	}
	if got.Herald.PublishedPerSec != 0 || got.Herald.DeliveredPerSec != 0 {
		t.Errorf("herald rates %+v, want zero", got.Herald)
	}

	// A counter that goes back (an interface removed) gives no rate.
	now = now.Add(time.Second)
	proc["/proc/net/dev"] = netHeader + "  lo: 2000 1 0 0 0 0 0 0 2000 1 0 0 0 0 0 0\n"
	if got = s.sample(); got.Network != nil {
		t.Errorf("network %+v after a counter went back, want null", *got.Network)
	}
}

// TestSamplerWithoutProc: on a system without /proc, or with files it
// cannot parse, the sample has nulls and the hub's numbers.
func TestSamplerWithoutProc(t *testing.T) {
	for _, tt := range []struct {
		name string
		proc fakeProc
	}{
		{"no /proc", fakeProc{}},
		{"garbage", fakeProc{"/proc/stat": "x", "/proc/net/dev": "x", "/proc/meminfo": "x", "/proc/loadavg": "x"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Unix(0, 0)
			s := &metricsSampler{
				readFile: tt.proc.readFile,
				now:      func() time.Time { now = now.Add(time.Second); return now },
				stats:    func() hub.Stats { return hub.Stats{Subscribers: 1} },
			}
			s.start()
			got := s.sample()
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"cpu_percent", "memory", "load", "network"} {
				if string(m[k]) != "null" {
					t.Errorf("%s = %s, want null", k, m[k])
				}
			}
			if got.Herald.Streams != 1 {
				t.Errorf("herald streams %d, want 1", got.Herald.Streams)
			}
		})
	}
}

// FuzzProcParsers feeds every parser the same text: none panics, and what
// they accept is consistent.
func FuzzProcParsers(f *testing.F) {
	for _, name := range []string{"stat", "meminfo", "loadavg", "net-dev"} {
		f.Add(fixture(f, name))
	}
	f.Add("cpu 1 2 3 4\nMemTotal: 1 kB\nMemFree: 2 kB\n")
	f.Fuzz(func(t *testing.T, s string) {
		if c, err := parseCPUTimes(s); err == nil && c.Idle > c.Total {
			t.Errorf("parseCPUTimes(%q): idle %d > total %d", s, c.Idle, c.Total)
		}
		if m, err := parseMeminfo(s); err == nil && m.UsedBytes+m.AvailableBytes != m.TotalBytes {
			t.Errorf("parseMeminfo(%q) = %+v: used + available != total", s, m)
		}
		if l, err := parseLoadavg(s); err == nil {
			for _, v := range []float64{l.Load1, l.Load5, l.Load15} {
				if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
					t.Errorf("parseLoadavg(%q) = %+v", s, l)
				}
			}
		}
		_, _ = parseNetDev(s)
	})
}
