package hub_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/store"
	"github.com/heraldsse/herald/store/memory"
)

// TestPublishBatch checks that a batch reaches a subscriber in order with
// the IDs PublishBatch returned, that every message is checked before any
// is stored (bad inputs tried: an invalid topic, a reserved type, data too
// large, each last in the batch; no messages; more than MaxBatch), and
// that a closed hub refuses a batch.
func TestPublishBatch(t *testing.T) {
	h := newHub(t, hub.Options{MaxDataSize: 10})
	sub, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"t/*"}})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []hub.Message{{Topic: "t/a", Data: "1"}, {Topic: "t/b", Data: "2"}, {Topic: "t/a", Type: "note", Data: "3"}}
	ids, err := h.PublishBatch(t.Context(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, sub, 3)
	for i, ev := range got {
		if ev.ID != ids[i] || ev.Data != msgs[i].Data || ev.Topic != msgs[i].Topic {
			t.Errorf("event %d = %+v, want id %s topic %s data %s", i, ev, ids[i], msgs[i].Topic, msgs[i].Data)
		}
	}

	good := hub.Message{Topic: "t/a", Data: "ok"}
	for _, tt := range []struct {
		name string
		msgs []hub.Message
		want error
		says string
	}{
		{"an invalid topic", []hub.Message{good, {Topic: "t//x"}}, hub.ErrInvalidTopic, "event 1"},
		{"a reserved type", []hub.Message{good, good, {Topic: "t/a", Type: hub.TypeGap}}, hub.ErrInvalidMessage, "event 2"},
		{"data too large", []hub.Message{good, {Topic: "t/a", Data: "01234567890"}}, hub.ErrTooLarge, "event 1"},
		{"no messages", nil, hub.ErrInvalidMessage, "0 events"},
		{"too many", make([]hub.Message, hub.MaxBatch+1), hub.ErrInvalidMessage, fmt.Sprint(hub.MaxBatch + 1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.PublishBatch(t.Context(), tt.msgs)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("PublishBatch = %v, want %v saying %q", err, tt.want, tt.says)
			}
		})
	}
	if st := h.Stats(); st.Published != 3 {
		t.Errorf("after refused batches the hub published %d events, want 3", st.Published)
	}

	if err := h.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.PublishBatch(t.Context(), []hub.Message{good}); !errors.Is(err, hub.ErrClosed) {
		t.Errorf("PublishBatch on a closed hub = %v, want ErrClosed", err)
	}
}

// plainLog is a log without AppendBatch: its method set is store.Log's.
type plainLog struct{ store.Log }

// TestPublishBatchOneByOne checks PublishBatch on a log that cannot append
// a batch: the messages are appended one by one, in order.
func TestPublishBatchOneByOne(t *testing.T) {
	l := memory.New(memory.Options{})
	t.Cleanup(func() { l.Close() })
	h := newHub(t, hub.Options{Log: plainLog{l}})
	sub, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"t/*"}})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []hub.Message{{Topic: "t/a", Data: "1"}, {Topic: "t/b", Data: "2"}}
	ids, err := h.PublishBatch(t.Context(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range collect(t, sub, 2) {
		if ev.ID != ids[i] || ev.Data != msgs[i].Data {
			t.Errorf("event %d = %+v, want id %s data %s", i, ev, ids[i], msgs[i].Data)
		}
	}
}
