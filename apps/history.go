package apps

import (
	"context"

	"github.com/heraldsse/herald/hub"
)

// readHistory reads the history a subscription made with FromStart (or a
// LastEventID) and MarkReplayed replays, calling each for every event of it
// (herald:gap notices aside), until the hub's herald:replayed marker says
// the history has all been read. It returns how many events each saw.
func readHistory(ctx context.Context, sub *hub.Subscription, each func(hub.Event)) (int, error) {
	n := 0
	for ev, err := range sub.Events(ctx) {
		switch {
		case err != nil:
			return n, err
		case ev.Type == hub.TypeReplayed:
			return n, nil
		case ev.Type == hub.TypeGap:
			continue
		}
		each(ev)
		n++
	}
	return n, ctx.Err()
}
