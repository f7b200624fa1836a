package apps_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldsse/herald/apps"
	"github.com/heraldsse/herald/hub"
)

// chatPayload is the data of an event on chat/<room>.
type chatPayload struct {
	Room string `json:"room"`
	User string `json:"user"`
	Text string `json:"text"`
	Time string `json:"time"`
}

// chatEntry is a message of GET /chat/history, and the answer of POST
// /chat/messages.
type chatEntry struct {
	ID string `json:"id"`
	chatPayload
}

// postChat posts body to /chat/messages with the given Content-Type and
// returns the status and the body.
func postChat(t *testing.T, url, contentType, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodPost, url+"/chat/messages", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// getJSON gets url, checks the status, and decodes the JSON body into v.
func jsonGet(t *testing.T, url string, wantStatus int, v any) {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: status %d %s, want %d", url, resp.StatusCode, b, wantStatus)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q, want application/json", url, ct)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: body %s: %v", url, b, err)
	}
}

// TestChatPostPublishes posts a message and receives it, as a subscriber of
// chat/* would: on chat/<room>, type message, with the server's time and
// the ID the answer gave.
func TestChatPostPublishes(t *testing.T) {
	h := newHub(t)
	ts := serve(t, newApps(t, apps.Options{Hub: h}).Handler())
	sub, err := h.Subscribe(testCtx(t), hub.SubscribeRequest{Topics: []string{"chat/*"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	before := time.Now().Add(-time.Second)
	status, body := postChat(t, ts.URL, "application/json; charset=utf-8", `{"room":"lobby","user":"  ada ","text":"  hello, world\n"}`)
	if status != http.StatusCreated {
		t.Fatalf("status %d %s, want 201", status, body)
	}
	var answer chatEntry
	decodeStrict(t, string(body), &answer)
	if answer.ID == "" || answer.Room != "lobby" || answer.User != "ada" || answer.Text != "hello, world" {
		t.Errorf("answer %+v, want lobby, ada, \"hello, world\" (trimmed) and an ID", answer)
	}

	for ev, err := range sub.Events(testCtx(t)) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Topic != "chat/lobby" || ev.Type != "message" || ev.ID != answer.ID {
			t.Errorf("event on %q, type %q, ID %q; want chat/lobby, message, %q", ev.Topic, ev.Type, ev.ID, answer.ID)
		}
		var got chatPayload
		decodeStrict(t, ev.Data, &got)
		if got != answer.chatPayload {
			t.Errorf("data %+v, want %+v", got, answer.chatPayload)
		}
		when, err := time.Parse(time.RFC3339Nano, got.Time)
		if err != nil || when.Before(before) || when.After(time.Now().Add(time.Second)) || when.Location() != time.UTC {
			t.Errorf("time %q (%v): want RFC 3339 UTC, now", got.Time, err)
		}
		break
	}
}

// TestChatPostValidation names each bad input and the error it gets: JSON
// errors with a 4xx status, and nothing published.
func TestChatPostValidation(t *testing.T) {
	h := newHub(t)
	ts := serve(t, newApps(t, apps.Options{Hub: h}).Handler())
	const ct = "application/json"
	msg := func(room, user, text string) string {
		b, _ := json.Marshal(map[string]string{"room": room, "user": user, "text": text})
		return string(b)
	}
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		want        string // in the error
	}{
		{"no content type", "", msg("lobby", "ada", "hi"), 415, "Content-Type"},
		{"text/plain", "text/plain", msg("lobby", "ada", "hi"), 415, "Content-Type"},
		{"form", "application/x-www-form-urlencoded", "room=lobby&user=ada&text=hi", 415, "Content-Type"},
		{"malformed JSON", ct, `{"room":"lobby",`, 400, "malformed"},
		{"not an object", ct, `["lobby","ada","hi"]`, 400, "malformed"},
		{"wrong type", ct, `{"room":1,"user":"ada","text":"hi"}`, 400, "malformed"},
		{"unknown field", ct, `{"room":"lobby","user":"ada","text":"hi","admin":true}`, 400, "unknown field"},
		{"two values", ct, msg("lobby", "ada", "hi") + msg("lobby", "ada", "hi"), 400, "more than one"},
		{"empty body", ct, ``, 400, "malformed"},
		{"too large", ct, `{"room":"lobby","user":"ada","text":"` + strings.Repeat("x", 9000) + `"}`, 413, "larger than"},
		{"missing room", ct, `{"user":"ada","text":"hi"}`, 400, "room is empty"},
		{"room too long", ct, msg(strings.Repeat("a", 33), "ada", "hi"), 400, "room is longer than 32"},
		{"room upper case", ct, msg("Lobby", "ada", "hi"), 400, "a-z, 0-9"},
		{"room with slash", ct, msg("a/b", "ada", "hi"), 400, "a-z, 0-9"},
		{"room wildcard", ct, msg("*", "ada", "hi"), 400, "a-z, 0-9"},
		{"room with space", ct, msg("the lobby", "ada", "hi"), 400, "a-z, 0-9"},
		{"missing user", ct, `{"room":"lobby","text":"hi"}`, 400, "user is empty"},
		{"blank user", ct, msg("lobby", " \t ", "hi"), 400, "user is empty"},
		{"user too long", ct, msg("lobby", strings.Repeat("é", 33), "hi"), 400, "user is longer than 32"},
		{"user with control character", ct, msg("lobby", "a\u0007b", "hi"), 400, "control character"},
		{"user with newline", ct, msg("lobby", "a\nb", "hi"), 400, "control character"},
		{"missing text", ct, `{"room":"lobby","user":"ada"}`, 400, "text is empty"},
		{"blank text", ct, msg("lobby", "ada", " \n\t "), 400, "text is empty"},
		{"text too long", ct, msg("lobby", "ada", strings.Repeat("ü", 1001)), 400, "text is longer than 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := postChat(t, ts.URL, tt.contentType, tt.body)
			if status != tt.status {
				t.Fatalf("status %d %s, want %d", status, body, tt.status)
			}
			var e struct {
				Error string `json:"error"`
			}
			decodeStrict(t, string(body), &e)
			if !strings.Contains(e.Error, tt.want) {
				t.Errorf("error %q, want it to contain %q", e.Error, tt.want)
			}
		})
	}
	if n := h.Stats().Published; n != 0 {
		t.Errorf("%d events published, want none", n)
	}

	// The limits themselves pass.
	status, body := postChat(t, ts.URL, ct, msg(strings.Repeat("z", 32), strings.Repeat("é", 32), strings.Repeat("ü", 1000)))
	if status != http.StatusCreated {
		t.Errorf("a message at every limit: status %d %s, want 201", status, body)
	}
}

// TestChatHistory reads a room's recent messages: oldest first, only that
// room's, at most 50, and an empty list for a quiet room.
func TestChatHistory(t *testing.T) {
	ts := serve(t, newApps(t, apps.Options{}).Handler())
	var posted []chatEntry
	for i := range 55 {
		room := "random"
		if i%10 == 0 {
			room = "lobby"
		}
		status, body := postChat(t, ts.URL, "application/json", `{"room":"`+room+`","user":"bot","text":"message `+string(rune('A'+i%26))+`"}`)
		if status != http.StatusCreated {
			t.Fatalf("post %d: status %d %s", i, status, body)
		}
		var e chatEntry
		decodeStrict(t, string(body), &e)
		if room == "random" {
			posted = append(posted, e)
		}
	}

	var got struct {
		Room     string      `json:"room"`
		Messages []chatEntry `json:"messages"`
	}
	jsonGet(t, ts.URL+"/chat/history?room=random", http.StatusOK, &got)
	if got.Room != "random" {
		t.Errorf("room %q, want random", got.Room)
	}
	want := posted[len(posted)-min(50, len(posted)):]
	if len(posted) != 49 || len(got.Messages) != len(want) {
		t.Fatalf("history has %d messages, want %d (of %d posted)", len(got.Messages), len(want), len(posted))
	}
	for i := range want {
		if got.Messages[i] != want[i] {
			t.Errorf("message %d: %+v, want %+v", i, got.Messages[i], want[i])
		}
	}

	jsonGet(t, ts.URL+"/chat/history?room=lobby", http.StatusOK, &got)
	if len(got.Messages) != 6 || got.Messages[0].Room != "lobby" {
		t.Errorf("lobby history: %d messages, want 6 of lobby", len(got.Messages))
	}

	// More than 50: the last 50.
	for i := range 3 {
		if status, body := postChat(t, ts.URL, "application/json", `{"room":"random","user":"bot","text":"more `+string(rune('a'+i))+`"}`); status != http.StatusCreated {
			t.Fatalf("post: status %d %s", status, body)
		}
	}
	jsonGet(t, ts.URL+"/chat/history?room=random", http.StatusOK, &got)
	if len(got.Messages) != 50 || got.Messages[49].Text != "more c" || got.Messages[0] != posted[2] {
		t.Errorf("after 52 messages: %d in history, last %q, want the last 50", len(got.Messages), got.Messages[len(got.Messages)-1].Text)
	}

	var quiet struct {
		Messages []chatEntry `json:"messages"`
	}
	jsonGet(t, ts.URL+"/chat/history?room=help", http.StatusOK, &quiet)
	if quiet.Messages == nil || len(quiet.Messages) != 0 {
		t.Errorf("quiet room: %v, want []", quiet.Messages)
	}

	for _, q := range []string{"", "?room=", "?room=Lobby", "?room=a/b", "?room=*", "?room=" + strings.Repeat("a", 33)} {
		var e struct {
			Error string `json:"error"`
		}
		jsonGet(t, ts.URL+"/chat/history"+q, http.StatusBadRequest, &e)
		if !strings.Contains(e.Error, "room") {
			t.Errorf("GET /chat/history%s: error %q, want one about the room", q, e.Error)
		}
	}
}

// TestChatAfterClose checks that closed apps refuse new messages with a
// JSON 503.
func TestChatAfterClose(t *testing.T) {
	a := newApps(t, apps.Options{})
	ts := serve(t, a.Handler())
	if err := a.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	status, body := postChat(t, ts.URL, "application/json", `{"room":"lobby","user":"ada","text":"hi"}`)
	if status != http.StatusServiceUnavailable || !strings.Contains(string(body), `"error"`) {
		t.Errorf("after Close: status %d %s, want 503 and a JSON error", status, body)
	}
}
