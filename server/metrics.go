package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/internal/conn"
)

// Endpoints, the endpoint label of the publish and stream metrics: /events,
// and the Mercure hub's URL.
const (
	endpointEvents  = "events"
	endpointMercure = "mercure"
)

// Reasons a publish fails, the reason label of herald_publish_errors_total.
const (
	publishInvalid     = "invalid"      // 400: malformed body, topic or message
	publishUnauth      = "unauthorized" // 401: no token or a bad one
	publishForbidden   = "forbidden"    // 403: the token may not publish there
	publishTooLarge    = "too_large"    // 413: body or data too large
	publishMediaType   = "media_type"   // 415: unsupported Content-Type
	publishUnavailable = "unavailable"  // 503: hub closed, store unavailable
	publishInternal    = "internal"     // any other 5xx
)

// Reasons a stream ends, the reason label of herald_stream_ends_total.
const (
	endSlow         = "slow"          // the subscriber's queue overflowed
	endOverrun      = "overrun"       // the hub fell behind its log
	endClosed       = "closed"        // the hub closed (shutdown)
	endTokenExpired = "token_expired" // the subscriber's token expired
	endClientGone   = "client_gone"   // the client disconnected
	endWriteFailed  = "write_failed"  // a write failed or timed out
)

// metrics holds the server's own Prometheus metrics and the registry that
// serves them with the hub's counters. It is safe for concurrent use.
type metrics struct {
	reg             *prometheus.Registry
	publishDuration *prometheus.HistogramVec
	publishErrors   *prometheus.CounterVec
	streamEnds      *prometheus.CounterVec
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		publishDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_publish_duration_seconds",
			Help:    "Time to handle a publish (POST /events, or the Mercure hub's), successful or not, by endpoint.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"endpoint"}),
		publishErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_publish_errors_total",
			Help: "Publish requests refused or failed, by endpoint and reason.",
		}, []string{"endpoint", "reason"}),
		streamEnds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_stream_ends_total",
			Help: "Event streams that ended, by endpoint and reason.",
		}, []string{"endpoint", "reason"}),
	}
	// Every endpoint and reason is present from the start, at zero, so
	// rates work.
	endpoints := []string{endpointEvents}
	if s.mercure != nil {
		endpoints = append(endpoints, endpointMercure)
	}
	for _, e := range endpoints {
		m.publishDuration.WithLabelValues(e)
		for _, r := range []string{publishInvalid, publishUnauth, publishForbidden, publishTooLarge, publishMediaType, publishUnavailable, publishInternal} {
			m.publishErrors.WithLabelValues(e, r)
		}
		for _, r := range []string{endSlow, endOverrun, endClosed, endTokenExpired, endClientGone, endWriteFailed} {
			m.streamEnds.WithLabelValues(e, r)
		}
	}
	m.reg.MustRegister(m.publishDuration, m.publishErrors, m.streamEnds, statsCollector{s})
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// publishReasons are the reason labels of the statuses a failed publish
// is answered with; another 5xx is publishInternal, another 4xx
// publishInvalid.
var publishReasons = map[int]string{
	http.StatusBadRequest:            publishInvalid,
	http.StatusUnauthorized:          publishUnauth,
	http.StatusForbidden:             publishForbidden,
	http.StatusRequestEntityTooLarge: publishTooLarge,
	http.StatusUnsupportedMediaType:  publishMediaType,
	http.StatusServiceUnavailable:    publishUnavailable,
}

// publishFailed counts a publish to endpoint answered with status.
func (m *metrics) publishFailed(endpoint string, status int) {
	reason, ok := publishReasons[status]
	switch {
	case ok:
	case status >= 500:
		reason = publishInternal
	default:
		reason = publishInvalid
	}
	m.publishErrors.WithLabelValues(endpoint, reason).Inc()
}

// streamEnded counts a stream of endpoint whose subscription ended with
// err, or whose token expired.
func (m *metrics) streamEnded(endpoint string, err error, expired bool) {
	var reason string
	switch {
	case expired:
		reason = endTokenExpired
	case errors.Is(err, hub.ErrSlowSubscriber), errors.Is(err, conn.ErrSlowClient):
		reason = endSlow
	case errors.Is(err, hub.ErrOverrun):
		reason = endOverrun
	case errors.Is(err, hub.ErrClosed), errors.Is(err, conn.ErrClosed):
		reason = endClosed
	case errors.Is(err, conn.ErrWriteFailed):
		reason = endWriteFailed
	default: // the client went, or the subscription was closed
		reason = endClientGone
	}
	m.streamEnds.WithLabelValues(endpoint, reason).Inc()
}

// statsCollector reads the hub's counters and the server's open streams
// when scraped, so counting costs nothing per event.
type statsCollector struct{ s *Server }

var (
	descSubscribers = prometheus.NewDesc("herald_subscribers", "Subscriptions open now.", nil, nil)
	descStreams     = prometheus.NewDesc("herald_streams_open", "Event streams open now.", nil, nil)
	descPublished   = prometheus.NewDesc("herald_events_published_total", "Events accepted by publish on this node.", nil, nil)
	descDispatched  = prometheus.NewDesc("herald_events_dispatched_total", "Events read from the log and matched against subscribers.", nil, nil)
	descDelivered   = prometheus.NewDesc("herald_events_delivered_total", "Events handed to subscribers' streams, live and replayed.", nil, nil)
	descSlow        = prometheus.NewDesc("herald_slow_disconnects_total", "Subscriptions ended because their queue overflowed or a write waited past the write timeout.", nil, nil)
	descWriteWaits  = prometheus.NewDesc("herald_write_waits_total", "Writes to a stream that found the client's socket buffer full and had to wait.", nil, nil)
	descReplays     = prometheus.NewDesc("herald_replays_total", "Subscriptions that replayed history.", nil, nil)
	descGaps        = prometheus.NewDesc("herald_gaps_total", "Subscriptions sent a herald:gap event because history was lost.", nil, nil)
	descPresence    = prometheus.NewDesc("herald_presence_subscriptions", "Subscriptions of this node recorded in presence.", nil, nil)
	descPresenceAll = prometheus.NewDesc("herald_presence_cluster_subscriptions", "Subscriptions recorded in presence by every node sharing this node's registry; absent from a scrape that could not read them.", nil, nil)
)

// presenceCountTimeout bounds the reading of the cluster's presence count
// during a scrape.
const presenceCountTimeout = 2 * time.Second

func (c statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSubscribers, descStreams, descPublished, descDispatched, descDelivered, descSlow, descWriteWaits, descReplays, descGaps, descPresence, descPresenceAll} {
		ch <- d
	}
}

func (c statsCollector) Collect(ch chan<- prometheus.Metric) {
	st, es := c.s.opts.Hub.Stats(), c.s.engine.Stats()
	ch <- prometheus.MustNewConstMetric(descSubscribers, prometheus.GaugeValue, float64(st.Subscribers))
	ch <- prometheus.MustNewConstMetric(descStreams, prometheus.GaugeValue, float64(c.s.Streams()))
	ch <- prometheus.MustNewConstMetric(descPublished, prometheus.CounterValue, float64(st.Published))
	ch <- prometheus.MustNewConstMetric(descDispatched, prometheus.CounterValue, float64(st.Dispatched))
	ch <- prometheus.MustNewConstMetric(descDelivered, prometheus.CounterValue, float64(st.Delivered))
	ch <- prometheus.MustNewConstMetric(descSlow, prometheus.CounterValue, float64(st.SlowDisconnects+es.SlowClients))
	ch <- prometheus.MustNewConstMetric(descWriteWaits, prometheus.CounterValue, float64(es.WriteWaits))
	ch <- prometheus.MustNewConstMetric(descReplays, prometheus.CounterValue, float64(st.Replays))
	ch <- prometheus.MustNewConstMetric(descGaps, prometheus.CounterValue, float64(st.Gaps))
	if reg := c.s.opts.Hub.Presence(); reg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), presenceCountTimeout)
		counts, err := reg.Count(ctx)
		cancel()
		ch <- prometheus.MustNewConstMetric(descPresence, prometheus.GaugeValue, float64(counts.Node))
		if err == nil {
			ch <- prometheus.MustNewConstMetric(descPresenceAll, prometheus.GaugeValue, float64(counts.Cluster))
		}
	}
}
