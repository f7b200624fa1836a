// Package deploy is herald's operations kit, kept as files beside this
// package: a Grafana dashboard (herald-dashboard.json), Prometheus alert
// rules (*.rules.yml) with their promtool unit tests, and a hardened systemd
// unit (herald.service, herald.env.example). README.md in this directory
// says how to install each.
//
// The package has no code of its own. Its tests start a real herald server,
// scrape its /metrics, and check that every metric and label value the
// dashboard and the rules query exists there, that the dashboard is well
// formed, and that the unit's settings are flags herald knows and serve.
package deploy
