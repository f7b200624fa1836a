package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/heraldsse/herald/api"
)

// PublishOptions configures [Publish]. The zero value is ready to use.
type PublishOptions struct {
	// HTTPClient sends the request. Nil means [http.DefaultClient]; the
	// request is bounded by the ctx given to Publish.
	HTTPClient *http.Client
	// Header is added to the request, for example Authorization. Publish
	// sets Content-Type and Accept itself, replacing any value given here.
	Header http.Header
}

// Publish publishes one event to the herald hub at hubURL with POST
// /events and returns the ID the hub gave it. hubURL is the hub's address,
// such as http://localhost:8080, which means its /events (see
// [EventsURL]), or the full URL of the endpoint. ctx bounds the request.
//
// It returns an error wrapping [ErrInvalidURL] for a bad URL; the error of
// encoding req when req.Data is not JSON; a network failure as a
// [*url.Error]; a [*StatusError] (wrapping [ErrBadStatus]) when the hub
// answers with a status outside 2xx, its Message the hub's reason (such
// as a refused topic, 400, or data too large, 413); and an error wrapping
// [ErrNoEventID] when a successful answer names no event. URLs in errors
// show no password and no access_token.
func Publish(ctx context.Context, hubURL string, req api.PublishRequest, opts PublishOptions) (string, error) {
	var v api.PublishResponse
	if err := post(ctx, hubURL, req, opts, &v, func() bool { return v.ID != "" }); err != nil {
		return "", err
	}
	return v.ID, nil
}

// PublishBatch publishes reqs (1 to 256) in order with one POST /events
// and returns their IDs in the same order: the hub stores them together,
// so no other publisher's event lands between them, and every subscriber
// receives them in that order. One event the hub refuses refuses them all,
// and nothing is published: the [*StatusError]'s message names it ("event
// 3: …"). Its other errors are [Publish]'s; a failure of the hub's store
// while storing them (503) may leave some stored.
func PublishBatch(ctx context.Context, hubURL string, reqs []api.PublishRequest, opts PublishOptions) ([]string, error) {
	var v api.PublishBatchResponse
	if err := post(ctx, hubURL, reqs, opts, &v, func() bool { return len(v.IDs) == len(reqs) }); err != nil {
		return nil, err
	}
	return v.IDs, nil
}

// post sends body as JSON to the hub's /events and decodes a 2xx answer
// into answer, which ok must then find complete.
func post(ctx context.Context, hubURL string, body any, opts PublishOptions, answer any, ok func() bool) error {
	endpoint, shown, err := eventsURL(hubURL, nil)
	if err != nil {
		return err
	}
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("client: publish: %w", err)
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("client: POST %s: %w", shown, err)
	}
	if opts.Header != nil {
		r.Header = opts.Header.Clone()
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json")
	hc := opts.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(r)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = shown
		}
		return err // a *url.Error: it names the method and URL
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return statusError(http.MethodPost, shown, resp)
	}
	text, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("client: POST %s: reading the answer: %w", shown, err)
	}
	if json.Unmarshal(text, answer) != nil || !ok() {
		return fmt.Errorf("%w: POST %s answered %s: %q", ErrNoEventID, shown, resp.Status, oneLine(string(text), 200))
	}
	return nil
}

// EventsURL returns the URL of the event API of the hub at hubURL, with a
// topic query parameter for each of topics added to those hubURL has:
// the URL to subscribe to topics with [New], or to publish to. hubURL is
// the hub's address, such as http://localhost:8080, which means its
// /events ([api.EventsPath]), or a URL with a path, kept as it is (for a
// hub mounted elsewhere). It returns an error wrapping [ErrInvalidURL]
// when hubURL is not an absolute http or https URL.
func EventsURL(hubURL string, topics ...string) (string, error) {
	u, _, err := eventsURL(hubURL, topics)
	return u, err
}

// eventsURL is EventsURL, also returning the URL as errors show it.
func eventsURL(hubURL string, topics []string) (full, shown string, err error) {
	u, err := parseURL(hubURL)
	if err != nil {
		return "", "", err
	}
	if u.Path == "" || u.Path == "/" {
		u.Path, u.RawPath = api.EventsPath, ""
	}
	if len(topics) > 0 {
		q := u.Query()
		for _, t := range topics {
			q.Add("topic", t)
		}
		u.RawQuery = q.Encode()
	}
	return u.String(), api.RedactURL(u), nil
}

// parseURL parses raw, which must be an absolute http or https URL.
func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: %q", ErrInvalidURL, raw)
	}
	return u, nil
}
