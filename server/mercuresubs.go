package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/mercure"
	"github.com/heraldsse/herald/presence"
)

// Mercure's active subscriptions (docs/mercure.md, "Active
// subscriptions"), on the hub's presence: each Mercure subscription is a
// presence record with its matchers (presence.KindExact,
// presence.KindURLPattern) and its token's payload; its subscription events
// are herald events on the Mercure topics
// {hub path}/subscriptions/{match_type}/{match}/{subscriber}, private, of
// type "mercure"; the subscription API lists the registry's records.

// subscriptionRoutes returns the patterns of the subscription API's paths
// under the hub URL u: the collection, a matcher's, a subscription's. The
// mux splits a path on its unescaped '/' only, so an encoded matcher is one
// segment; any other shape under the collection is the mux's 404.
func subscriptionRoutes(u *mercure.HubURL) []string {
	c := u.SubscriptionsPath()
	return []string{c, c + "/{match_type}/{match}", c + "/{match_type}/{match}/{subscriber}"}
}

// mercureAnnounce returns how the Mercure subscriber sub appears in
// presence: its matchers, and the payload of the first of its token's
// subscribe grants that covers one of them.
func mercureAnnounce(sub *mercure.Subscriber) *hub.Announce {
	a := &hub.Announce{}
	for _, m := range sub.Selector.Matchers() {
		a.Topics = append(a.Topics, presence.Matcher{Kind: presence.Kind(m.Type), Value: m.Value})
		if a.Payload == nil && sub.Token != nil {
			a.Payload = sub.Token.Payload(m)
		}
	}
	return a
}

// mercureMatchers returns the Mercure matchers of a presence record.
func mercureMatchers(s presence.Subscription) []mercure.Matcher {
	var out []mercure.Matcher
	for _, m := range s.Topics {
		if m.Kind == presence.KindExact || m.Kind == presence.KindURLPattern {
			out = append(out, mercure.Matcher{Type: string(m.Kind), Value: m.Value})
		}
	}
	return out
}

// PresenceEventsFor returns what hub.Options.PresenceEvents should be for a
// server made with opts: [PresenceEvents], and with opts.Mercure, the
// Mercure subscription events too, one per matcher of a Mercure
// subscription. It fails when opts.Mercure's hub URL does.
func PresenceEventsFor(opts Options) (func(presence.Subscription, bool) []hub.Message, error) {
	if opts.Mercure == nil {
		return PresenceEvents, nil
	}
	hubURL := opts.Mercure.HubURL
	if hubURL == "" {
		hubURL = mercure.DefaultHubURL
	}
	u, err := mercure.ParseHubURL(hubURL)
	if err != nil {
		return nil, fmt.Errorf("server: mercure: %w", err)
	}
	return func(s presence.Subscription, active bool) []hub.Message {
		return append(PresenceEvents(s, active), mercureSubscriptionEvents(u, s, active)...)
	}, nil
}

// mercureSubscriptionEvents returns the subscription events of the record
// s: for each Mercure matcher, a private update of type "mercure" on the
// subscription's topic, whose data is its document.
func mercureSubscriptionEvents(u *mercure.HubURL, s presence.Subscription, active bool) []hub.Message {
	var msgs []hub.Message
	for _, m := range mercureMatchers(s) {
		doc := u.SubscriptionEvent(m, s.ID, s.Payload, active)
		data, _ := json.Marshal(doc) // strings, a bool and valid JSON: always marshals
		t, also := mercureTopics([]string{doc.ID})
		msgs = append(msgs, hub.Message{Topic: t, Also: also, Private: true, Type: mercure.ReservedType, Data: string(data)})
	}
	return msgs
}

// mercureSubs is the subscription API's source: the hub's presence
// registry, every node's with a shared one.
type mercureSubs struct {
	s *Server
	h *hub.Hub
}

// LastEventID is the Mercure ID of the last event the hub dispatched.
func (m mercureSubs) LastEventID(context.Context) (string, error) {
	if m.s.draining.Load() {
		return "", errDraining
	}
	if id := m.h.Dispatched(); id != "" {
		return hub.GeneratedIDPrefix + id, nil
	}
	return mercure.EarliestID, nil
}

// Subscriptions yields the records with Mercure matchers; records it
// could not decode are skipped.
func (m mercureSubs) Subscriptions(ctx context.Context) iter.Seq2[mercure.ActiveSubscription, error] {
	return func(yield func(mercure.ActiveSubscription, error) bool) {
		for rec, err := range m.h.Presence().List(ctx) {
			if err != nil {
				if rec.ID == "" {
					yield(mercure.ActiveSubscription{}, err)
					return
				}
				continue
			}
			if a, ok := activeSubscription(rec); ok && !yield(a, nil) {
				return
			}
		}
	}
}

// Subscription returns the record of subscriber, if it has Mercure
// matchers.
func (m mercureSubs) Subscription(ctx context.Context, subscriber string) (mercure.ActiveSubscription, error) {
	rec, err := m.h.Presence().Get(ctx, subscriber)
	if errors.Is(err, presence.ErrNotFound) || errors.Is(err, presence.ErrInvalid) {
		return mercure.ActiveSubscription{}, mercure.ErrNotFound
	}
	if err != nil {
		return mercure.ActiveSubscription{}, err
	}
	if a, ok := activeSubscription(rec); ok {
		return a, nil
	}
	return mercure.ActiveSubscription{}, mercure.ErrNotFound
}

func activeSubscription(rec presence.Subscription) (mercure.ActiveSubscription, bool) {
	ms := mercureMatchers(rec)
	return mercure.ActiveSubscription{Subscriber: rec.ID, Matchers: ms, Payload: rec.Payload}, len(ms) > 0
}
