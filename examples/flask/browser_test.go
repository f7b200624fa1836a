// Package flask_test drives the Flask example's page in headless Chromium
// against a real herald serve and the Flask app under Debian's Python: Flask
// starts tasks and publishes their progress to herald, the page reads it
// from herald with EventSource. The Python tests beside it cover the app
// and its publisher from the server side.
package flask_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldsse/herald/internal/browsertest"
	"github.com/heraldsse/herald/internal/testenv"
	"github.com/heraldsse/herald/sse"
)

// step is each of a task's ten steps: long enough for a cut or a reload to
// land mid-task, short enough for a two-second task.
const step = "0.2"

// allSteps is what the page must show for every task: each step once, in order.
const allSteps = "0,10,20,30,40,50,60,70,80,90,100"

// TestFlaskPage starts herald, a proxy in front of it that can cut the
// browser's connections, and the Flask app, then drives the page: a task's
// bar reaches 100 % from herald's events; a page opened after the task
// shows its state; a network cut or a reload mid-task loses and repeats no
// step; chat messages show from herald, and again after a reload.
func TestFlaskPage(t *testing.T) {
	python := testenv.NeedPythonFlask(t)
	chromium := testenv.NeedChromium(t)
	herald := buildHerald(t)

	flaskPort, heraldPort := freePort(t), freePort(t)
	origin := fmt.Sprintf("http://127.0.0.1:%d", flaskPort)
	heraldAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(heraldPort))
	heraldURL := "http://" + heraldAddr
	heraldExited := start(t, "herald", herald, "serve", "--addr", heraldAddr, "--cors-origins", origin,
		"--retry", "200ms", "--log-level", "warn")
	waitHTTP(t, heraldURL+"/healthz", heraldExited)
	px := startProxy(t, heraldAddr)
	// Browsers reach herald through the proxy; Flask publishes to it directly.
	flaskExited := start(t, "flask", python, "app.py", "--port", strconv.Itoa(flaskPort), "--herald", px.url,
		"--publish-url", heraldURL, "--step-seconds", step)
	waitHTTP(t, origin+"/", flaskExited)

	tab := browsertest.Start(t, chromium)
	p := &page{t: t, tab: tab, origin: origin, herald: heraldURL}

	var finished string // a task the first case ran to the end
	t.Run("task_bar_reaches_100_percent", func(t *testing.T) {
		ctx := p.open(t, "/")
		id := p.startTask(ctx, t)
		task := p.waitTask(ctx, t, id, "the task completed", `t.dataset.status === "completed"`)
		task.check(t, "completed - 100% complete")
		finished = id
		browsertest.Screenshot(ctx, t, "flask-task.png")
	})

	t.Run("page_opened_after_the_task_shows_its_state", func(t *testing.T) {
		if finished == "" {
			t.Skip("the first case did not finish a task")
		}
		ctx := p.open(t, "/tasks/"+finished)
		task := p.waitTask(ctx, t, finished, "the task's states replayed", `t.dataset.status === "completed"`)
		task.check(t, "completed - 100% complete")
	})

	t.Run("network_cut_mid_task_loses_no_step", func(t *testing.T) {
		ctx := p.open(t, "/")
		id := p.startTask(ctx, t)
		p.waitTask(ctx, t, id, "progress of 20 %", `Number(t.dataset.progress) >= 20`)
		px.hold()                          // the browser's reconnection waits in the proxy ...
		px.cut()                           // ... once its streams are cut
		ids := p.heraldProgress(t, id, 60) // meanwhile, herald gets steps the page has not
		before := p.waitTask(ctx, t, id, "the page cut off", `t.dataset.conn === "reconnecting"`)
		if before.Progress >= 60 {
			t.Fatalf("the page got progress %d while cut off", before.Progress)
		}
		px.release()
		task := p.waitTask(ctx, t, id, "the task completed after the cut", `t.dataset.status === "completed"`)
		task.check(t, "completed - 100% complete")
		if task.Opens < 2 {
			t.Errorf("the task's stream opened %d times, want a reconnection", task.Opens)
		}
		// The browser resumed with its own Last-Event-ID: the last event it had, and herald replayed
		// what it missed.
		resumed := px.requests(id, func(r streamRequest) bool { return r.lastEventID != "" })
		if len(resumed) != 1 {
			t.Fatalf("reconnections with Last-Event-ID = %+v, want 1", resumed)
		}
		if got := ids[resumed[0].lastEventID]; got != before.Progress {
			t.Errorf("the browser resumed after the event of progress %d (ID %s), want %d, its last before the cut",
				got, resumed[0].lastEventID, before.Progress)
		}
	})

	t.Run("reload_mid_task_loses_no_step", func(t *testing.T) {
		ctx := p.open(t, "/")
		id := p.startTask(ctx, t)
		p.waitTask(ctx, t, id, "progress of 30 %", `Number(t.dataset.progress) >= 30`)
		if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
			t.Fatal(err)
		}
		task := p.waitTask(ctx, t, id, "the task completed after the reload", `t.dataset.status === "completed"`)
		task.check(t, "completed - 100% complete")
		// The reloaded page resumed after the last event it had stored, with ?lastEventId=.
		resumed := px.requests(id, func(r streamRequest) bool { return r.query != "" })
		if len(resumed) != 1 {
			t.Fatalf("requests resuming with ?lastEventId= = %+v, want 1", resumed)
		}
		ids := p.heraldProgress(t, id, 100)
		if got, ok := ids[resumed[0].query]; !ok || got < 30 || got == 100 {
			t.Errorf("the reloaded page resumed after %q (progress %d, known %v); want an event of this task mid-way",
				resumed[0].query, got, ok)
		}
	})

	t.Run("chat_messages_from_herald", func(t *testing.T) {
		ctx := p.open(t, "/")
		p.poll(ctx, t, "the room's stream live", `document.getElementById("chat-state").dataset.state === "live"`)
		if err := chromedp.Do(ctx,
			chromedp.SendKeys(chromedp.ID("text"), "hello from chromium"),
			chromedp.Click(chromedp.CSS(`#chat-form button[type="submit"]`)),
		); err != nil {
			t.Fatal(err)
		}
		p.poll(ctx, t, "the page's message", `document.getElementById("messages").textContent.includes("guest: hello from chromium")`)
		postChat(t, origin, "lobby", `{"user": "go", "text": "hello from go"}`)
		want := `["guest: hello from chromium","go: hello from go"]`
		messages := `JSON.stringify([...document.querySelectorAll("#messages li")].map((li) => li.textContent))`
		p.poll(ctx, t, "both messages", messages+` === `+strconv.Quote(want))
		if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
			t.Fatal(err)
		}
		p.poll(ctx, t, "both messages from the room's history after a reload", messages+` === `+strconv.Quote(want))
		if errText, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("chat-error"))); err != nil || errText != "" {
			t.Errorf("chat error = %q, %v; want none", errText, err)
		}
	})
}

// page drives the Flask page in one browser tab.
type page struct {
	t      *testing.T
	tab    context.Context
	origin string
	herald string // herald's own address, for the test's direct subscriptions
}

// open loads path in a tab whose session storage is empty, as a new visit.
func (p *page) open(t *testing.T, path string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.tab, 60*time.Second)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(p.origin+"/"),
		chromedp.Evaluate[chromedp.Void](`sessionStorage.clear()`),
		chromedp.Navigate(p.origin+path),
	); err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return ctx
}

// poll waits until the JavaScript expression is true in the page.
func (p *page) poll(ctx context.Context, t *testing.T, what, expr string) {
	t.Helper()
	browsertest.Poll(ctx, t, 20*time.Second, what, expr)
}

// startTask presses the page's button and returns the new task's ID.
func (p *page) startTask(ctx context.Context, t *testing.T) string {
	t.Helper()
	before, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".task").length`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("startTask"))); err != nil {
		t.Fatal(err)
	}
	p.poll(ctx, t, "a new task on the page", fmt.Sprintf(`document.querySelectorAll(".task").length === %d`, before+1))
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".task").dataset.taskId`))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// taskView is what the page shows of a task.
type taskView struct {
	Status, Steps, Conn, Width, Text string
	Progress, Events, Repeats, Opens int
}

// check fails t unless the task shows every step once, in order, and the
// status text want.
func (v taskView) check(t *testing.T, want string) {
	t.Helper()
	if v.Steps != allSteps || v.Events != 11 || v.Repeats != 0 || v.Width != "100%" || v.Text != want {
		t.Errorf("task shows %+v; want steps %s from 11 events, none repeated, the bar at 100%% and %q",
			v, allSteps, want)
	}
}

// waitTask waits until cond (JavaScript, with t the task's element) holds and
// returns what the task shows then.
func (p *page) waitTask(ctx context.Context, t *testing.T, id, what, cond string) taskView {
	t.Helper()
	el := fmt.Sprintf(`document.querySelector('.task[data-task-id="%s"]')`, id)
	p.poll(ctx, t, what, fmt.Sprintf(`(() => { const t = %s; return !!t && (%s); })()`, el, cond))
	v, err := chromedp.Run(ctx, chromedp.Evaluate[taskView](fmt.Sprintf(`(() => {
		const t = %s, d = t.dataset;
		return {Status: d.status, Steps: d.steps, Conn: d.conn || "", Progress: Number(d.progress),
			Events: Number(d.events), Repeats: Number(d.repeats), Opens: Number(d.opens || 0),
			Width: t.querySelector(".progress-fill").style.width, Text: t.querySelector(".status").textContent};
	})()`, el)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// heraldProgress reads task id's topic from herald directly, from the start
// of its history, until a state of at least minProgress, and returns each
// event's ID with the progress it carried.
func (p *page) heraldProgress(t *testing.T, id string, minProgress int) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	q := url.Values{"topic": {"flask/tasks/" + id}, "from": {"start"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.herald+"/events?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	ids := make(map[string]int)
	dec := sse.NewDecoder(resp.Body)
	for {
		ev, err := dec.Next()
		if err != nil {
			t.Fatalf("herald's stream of task %s, after %v: %v", id, ids, err)
		}
		if ev.Type != "" {
			continue // herald's own events (herald:replayed), not the task's
		}
		var state struct{ Progress int }
		if err := json.Unmarshal([]byte(ev.Data), &state); err != nil {
			t.Fatalf("task %s: event %q: %v", id, ev.Data, err)
		}
		ids[ev.ID] = state.Progress
		if state.Progress >= minProgress {
			return ids
		}
	}
}

func postChat(t *testing.T, origin, room, body string) {
	t.Helper()
	resp, err := http.Post(origin+"/chat/"+room, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST /chat/%s: %d %s", room, resp.StatusCode, b)
	}
}

// buildHerald builds cmd/herald into a temporary directory.
func buildHerald(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "herald")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/heraldsse/herald/cmd/herald").CombinedOutput()
	if err != nil {
		t.Fatalf("go build cmd/herald: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// start runs a process until the test ends (SIGTERM, then SIGKILL after
// 10 s), logging its output when the test fails. The channel is closed when
// the process exits.
func start(t *testing.T, name, path string, args ...string) <-chan struct{} {
	t.Helper()
	cmd := exec.Command(path, args...)
	log, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close() // the process has its own copy
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if out, err := os.ReadFile(log.Name()); t.Failed() && err == nil {
			t.Logf("%s output:\n%s", name, out)
		}
	})
	return exited
}

// waitHTTP waits until url answers, failing at once if the process serving
// it exits: the processes give no other sign that they listen.
func waitHTTP(t *testing.T, url string, exited <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("the process serving %s exited", url)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// proxy forwards TCP connections to herald and notes the head of each
// request, so a test can cut the browser's streams, hold its reconnections
// and see how it resumed.
type proxy struct {
	ln       net.Listener
	upstream string
	url      string
	wg       sync.WaitGroup

	mu      sync.Mutex
	held    chan struct{} // non-nil while holding; closed on release
	conns   map[net.Conn]struct{}
	streams []streamRequest
}

// streamRequest is how one request to GET /events asked to resume.
type streamRequest struct {
	topic       string
	query       string // ?lastEventId=
	lastEventID string // the Last-Event-ID header
}

func startProxy(t *testing.T, upstream string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	px := &proxy{ln: ln, upstream: upstream, url: "http://" + ln.Addr().String(), conns: make(map[net.Conn]struct{})}
	px.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			px.wg.Go(func() { px.serve(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		px.release()
		px.mu.Lock()
		for c := range px.conns {
			c.Close()
		}
		px.conns = nil // from now on, track refuses
		px.mu.Unlock()
		px.wg.Wait()
	})
	return px
}

func (px *proxy) track(c net.Conn) bool {
	px.mu.Lock()
	defer px.mu.Unlock()
	if px.conns == nil {
		return false
	}
	px.conns[c] = struct{}{}
	return true
}

func (px *proxy) serve(c net.Conn) {
	if !px.track(c) {
		c.Close()
		return
	}
	px.mu.Lock()
	held := px.held
	px.mu.Unlock()
	if held != nil {
		<-held
	}
	var head bytes.Buffer
	req, err := http.ReadRequest(bufio.NewReader(io.TeeReader(c, &head)))
	if err != nil {
		c.Close()
		return
	}
	if req.URL.Path == "/events" {
		q := req.URL.Query()
		px.mu.Lock()
		px.streams = append(px.streams, streamRequest{topic: q.Get("topic"), query: q.Get("lastEventId"),
			lastEventID: req.Header.Get("Last-Event-ID")})
		px.mu.Unlock()
	}
	up, err := net.Dial("tcp", px.upstream)
	if err != nil || !px.track(up) {
		c.Close()
		return
	}
	if _, err := up.Write(head.Bytes()); err != nil {
		c.Close()
		up.Close()
		return
	}
	px.wg.Go(func() {
		_, _ = io.Copy(up, c)
		up.Close()
	})
	_, _ = io.Copy(c, up)
	c.Close()
	up.Close()
}

// cut closes every connection open through the proxy.
func (px *proxy) cut() {
	px.mu.Lock()
	defer px.mu.Unlock()
	for c := range px.conns {
		c.Close()
	}
	clear(px.conns)
}

// hold makes new connections wait until release.
func (px *proxy) hold() {
	px.mu.Lock()
	defer px.mu.Unlock()
	if px.held == nil {
		px.held = make(chan struct{})
	}
}

func (px *proxy) release() {
	px.mu.Lock()
	defer px.mu.Unlock()
	if px.held != nil {
		close(px.held)
		px.held = nil
	}
}

// requests returns the stream requests for task id that match keep.
func (px *proxy) requests(id string, keep func(streamRequest) bool) []streamRequest {
	px.mu.Lock()
	defer px.mu.Unlock()
	return slices.DeleteFunc(slices.Clone(px.streams), func(r streamRequest) bool {
		return r.topic != "flask/tasks/"+id || !keep(r)
	})
}
