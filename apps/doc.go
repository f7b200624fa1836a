// Package apps serves the apps of the Flask Server-Sent Events tutorial that
// herald grew from, as a user's module would write them on herald's public
// API: the streams the tutorial defines (/stream, /advanced-stream,
// /stream-with-id, /start-task and /task-progress/{task_id}), the pages that
// show them in a browser, and an index at / that lists every app.
//
// The task monitor runs on a [hub.Hub]: each task's progress is published on
// its topic by a [tasks.Runner], and a progress stream is a subscription that
// replays the topic's history, so a late or reconnecting client gets the
// current state.
//
// The tutorial's five exercises are apps too, built the same way: a task
// board (many tasks, cancel, reattach after a reload), chat rooms with
// notifications, a live system-metrics dashboard, a stock ticker for chosen
// symbols, and a page that drops and resumes its own stream to show nothing
// is missed. Their feeds (the metrics sampler, the simulated market, the
// numbered sequence) are goroutines the Apps own.
//
// Create the apps with [New], mount [Apps.Handler] on a server, and call
// [Apps.Close] on shutdown, before closing the hub: it ends the counting
// streams and cancels the running tasks.
package apps
