package apps

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/heraldsse/herald/hub"
)

// Limits of the chat app (exercise 2).
const (
	chatMaxRoom    = 32      // runes in a room name, all of [a-z0-9-]
	chatMaxUser    = 32      // runes in a user name
	chatMaxText    = 1000    // runes in a message's text, after trimming
	chatMaxBody    = 8 << 10 // bytes in a POST /chat/messages body
	chatHistoryLen = 50      // messages GET /chat/history returns at most
	chatEventType  = "message"
)

// chatMessage is a chat message: the body of POST /chat/messages (without
// Time) and the data of each event on chat/<room>.
type chatMessage struct {
	Room string `json:"room"`
	User string `json:"user"`
	Text string `json:"text"`
	Time string `json:"time"` // RFC 3339 in UTC, set by the server
}

// chatEntry is a message of GET /chat/history: the message and the ID of
// its event, which the page uses to drop the live copy of a message it
// already has.
type chatEntry struct {
	ID string `json:"id"`
	chatMessage
}

// chatTopic returns the hub topic of room.
func chatTopic(room string) string { return "chat/" + room }

// routeChat registers the chat app's routes: POST /chat/messages publishes
// a message on chat/<room>; GET /chat/history?room=R returns the room's
// recent messages. The page follows every room at once on the API's
// GET /events?topic=chat/*.
func (a *Apps) routeChat(mux *routeMux) {
	mux.HandleFunc("POST /chat/messages", a.postChatMessage)
	mux.HandleFunc("GET /chat/history", a.chatHistory)
}

// validRoom reports why room is not a valid room name, or "" if it is.
func validRoom(room string) string {
	if room == "" {
		return "room is empty"
	}
	if len(room) > chatMaxRoom {
		return fmt.Sprintf("room is longer than %d characters", chatMaxRoom)
	}
	for _, r := range room {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return "room may hold only a-z, 0-9 and -"
		}
	}
	return ""
}

// validate trims m's user and text and reports the first reason m cannot be
// posted, or "" if it can.
func (m *chatMessage) validate() string {
	if msg := validRoom(m.Room); msg != "" {
		return msg
	}
	m.User = strings.TrimSpace(m.User)
	m.Text = strings.TrimSpace(m.Text)
	if msg := checkChatField("user", m.User, chatMaxUser, false); msg != "" {
		return msg
	}
	return checkChatField("text", m.Text, chatMaxText, true)
}

// checkChatField returns what is wrong with the field name's value v, or
// "": empty, not UTF-8, longer than max characters, or, unless multiline,
// holding a control character (a message's text may hold line breaks).
func checkChatField(name, v string, max int, multiline bool) string {
	switch {
	case v == "":
		return name + " is empty"
	case !utf8.ValidString(v):
		return name + " is not valid UTF-8"
	case utf8.RuneCountInString(v) > max:
		return fmt.Sprintf("%s is longer than %d characters", name, max)
	case !multiline && strings.ContainsFunc(v, unicode.IsControl):
		return name + " contains a control character"
	}
	return ""
}

// postChatMessage handles POST /chat/messages: a JSON body {"room", "user",
// "text"}, published on chat/<room> as an event of type message whose data
// adds the server's time. It answers 201 with the message and its event ID,
// 400 for a malformed or invalid message, 413 for a body over 8 KiB, 415
// for a body that is not JSON, and 503 once the apps or the hub are closed.
func (a *Apps) postChatMessage(w http.ResponseWriter, r *http.Request) {
	if a.isClosed() {
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return
	}
	var in struct {
		Room string `json:"room"`
		User string `json:"user"`
		Text string `json:"text"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, chatMaxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(&in)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("more than one JSON value")
	}
	if err != nil {
		if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", chatMaxBody))
			return
		}
		writeError(w, http.StatusBadRequest, "malformed message: "+err.Error())
		return
	}
	m := chatMessage{Room: in.Room, User: in.User, Text: in.Text}
	if msg := m.validate(); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	m.Time = time.Now().UTC().Format(time.RFC3339Nano)
	data, _ := json.Marshal(m) // strings only: always marshals
	id, err := a.hub.Publish(r.Context(), hub.Message{Topic: chatTopic(m.Room), Type: chatEventType, Data: string(data)})
	if err != nil {
		a.log.Warn("chat: publish", "room", m.Room, "err", err)
		writeError(w, http.StatusServiceUnavailable, "cannot publish now")
		return
	}
	writeJSON(w, http.StatusCreated, chatEntry{ID: id, chatMessage: m})
}

// chatHistoryBody is the answer of GET /chat/history.
type chatHistoryBody struct {
	Room     string      `json:"room"`
	Messages []chatEntry `json:"messages"` // oldest first
}

// chatHistory handles GET /chat/history?room=R: the last 50 messages of the
// room that the hub's history still holds, oldest first. It reads them as
// a subscriber would, replaying chat/<room> from the start, then
// unsubscribes. It answers 400 for an invalid room and 503 once the hub is
// closed.
func (a *Apps) chatHistory(w http.ResponseWriter, r *http.Request) {
	room := r.URL.Query().Get("room")
	if msg := validRoom(room); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	sub, err := a.hub.Subscribe(r.Context(), hub.SubscribeRequest{Topics: []string{chatTopic(room)}, FromStart: true, MarkReplayed: true})
	if err != nil {
		a.log.Warn("chat: read history", "room", room, "err", err)
		writeError(w, http.StatusServiceUnavailable, "cannot read history now")
		return
	}
	defer sub.Close()
	body := chatHistoryBody{Room: room, Messages: []chatEntry{}}
	_, err = readHistory(r.Context(), sub, func(ev hub.Event) {
		var m chatMessage
		if ev.Type == chatEventType && json.Unmarshal([]byte(ev.Data), &m) == nil {
			body.Messages = append(body.Messages, chatEntry{ID: ev.ID, chatMessage: m})
			if len(body.Messages) > 2*chatHistoryLen { // keep what is answered, and a little
				body.Messages = append(body.Messages[:0], body.Messages[len(body.Messages)-chatHistoryLen:]...)
			}
		}
	})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot read history now")
		return
	}
	if k := len(body.Messages) - chatHistoryLen; k > 0 {
		body.Messages = body.Messages[k:]
	}
	writeJSON(w, http.StatusOK, body)
}
