// Package wake is what the stores that run on one node (store/memory and
// store/bolt) share: a [Transport], the bounded ring that carries every
// entry to the log's followers in log order, wakes them without waiting for
// any, and makes appenders wait for room rather than lap the slowest.
package wake
