package main

import (
	"math/bits"
	"sync/atomic"
)

// histBins is how many bins a histogram has: values below 64 get a bin
// each, larger ones 32 bins per power of two (about 3% wide), up to 2^64.
const histBins = 64 + 58*32

// histogram counts latencies in microseconds in fixed log-linear bins. It
// is safe for concurrent use.
type histogram struct {
	bins [histBins]atomic.Uint64
}

func histIndex(v uint64) int {
	if v < 64 {
		return int(v)
	}
	shift := bits.Len64(v) - 6
	return 64 + (shift-1)*32 + int(v>>shift) - 32
}

// histValue is the middle of bin i.
func histValue(i int) float64 {
	if i < 64 {
		return float64(i)
	}
	shift := (i-64)/32 + 1
	m := uint64((i-64)%32 + 32)
	return float64(m<<shift) + float64(uint64(1)<<shift)/2
}

func (h *histogram) record(us int64) {
	if us < 0 {
		us = 0
	}
	h.bins[histIndex(uint64(us))].Add(1)
}

// take returns the non-empty bins as (index, count) pairs and empties them.
func (h *histogram) take() [][2]uint64 {
	var out [][2]uint64
	for i := range h.bins {
		if n := h.bins[i].Swap(0); n > 0 {
			out = append(out, [2]uint64{uint64(i), n})
		}
	}
	return out
}

// quantiles merges bins from several histograms and returns the values at
// each quantile q (0..1), in microseconds, and the number of samples.
func quantiles(parts [][][2]uint64, qs ...float64) ([]float64, uint64) {
	var merged [histBins]uint64
	var total uint64
	for _, p := range parts {
		for _, b := range p {
			if b[0] < histBins {
				merged[b[0]] += b[1]
				total += b[1]
			}
		}
	}
	out := make([]float64, len(qs))
	if total == 0 {
		return out, 0
	}
	for j, q := range qs {
		rank := uint64(q * float64(total))
		if rank >= total {
			rank = total - 1
		}
		var seen uint64
		for i, n := range merged {
			seen += n
			if seen > rank {
				out[j] = histValue(i)
				break
			}
		}
	}
	return out, total
}
