package js_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldsse/herald/internal/testenv"
	"github.com/heraldsse/herald/sse"
)

// parseResult is what a parser leaves behind after a stream, in the terms of
// js/tests/fixtures/parse-lines.js.
type parseResult struct {
	Events      []parseEvent `json:"events"`
	LastEventID string       `json:"lastEventId"`
	Retry       *int64       `json:"retry"` // ms; nil: never set
	Error       *string      `json:"error"` // "too large", or nil
}

type parseEvent struct {
	Type        string `json:"type"`
	Data        string `json:"data"`
	LastEventID string `json:"lastEventId"`
	Retry       int64  `json:"retry"` // ms; 0: none in its block
}

// nodeParser is herald.js's Parser in a node process, parsing one stream
// per request.
type nodeParser struct {
	in  io.Writer
	out chan []byte
}

// startNodeParser starts js/tests/fixtures/parse-lines.js, stopped when tb
// ends.
func startNodeParser(tb testing.TB) *nodeParser {
	tb.Helper()
	node := testenv.NeedNode(tb)
	cmd := exec.Command(node, filepath.Join("tests", "fixtures", "parse-lines.js"))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &nodeParser{in: stdin, out: make(chan []byte)}
	// The reader ends when node's stdout closes: after the cleanup closes
	// its stdin, or when it dies.
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(p.out)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			p.out <- bytes.Clone(sc.Bytes())
		}
	}()
	tb.Cleanup(func() {
		stdin.Close()
		for range p.out {
		}
		<-done
		_ = cmd.Wait()
	})
	return p
}

// parse has node parse in, fed in two chunks split at cut.
func (p *nodeParser) parse(t *testing.T, in []byte, maxSize, cut int) parseResult {
	t.Helper()
	req, _ := json.Marshal(map[string]any{"in": base64.StdEncoding.EncodeToString(in), "maxSize": maxSize, "cut": cut})
	if _, err := p.in.Write(append(req, '\n')); err != nil {
		t.Fatalf("write to node: %v", err)
	}
	select {
	case line, ok := <-p.out:
		if !ok {
			t.Fatal("node's parser exited")
		}
		var r parseResult
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("node's answer %q: %v", line, err)
		}
		return r
	case <-time.After(20 * time.Second):
		t.Fatalf("node's parser gave no answer for %q within 20 s", in)
	}
	return parseResult{}
}

// goDecode is the same for herald's Go Decoder.
func goDecode(in []byte, maxSize int) parseResult {
	d := sse.NewDecoder(bytes.NewReader(in))
	d.SetMaxSize(maxSize)
	r := parseResult{Events: []parseEvent{}}
	for {
		ev, err := d.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				msg := err.Error()
				if errors.Is(err, sse.ErrTooLarge) {
					msg = "too large"
				}
				r.Error = &msg
			}
			break
		}
		typ := ev.Type
		if typ == "" {
			typ = "message"
		}
		r.Events = append(r.Events, parseEvent{Type: typ, Data: ev.Data, LastEventID: ev.ID, Retry: ev.Retry.Milliseconds()})
	}
	r.LastEventID = d.LastEventID()
	if retry, ok := d.Retry(); ok {
		ms := retry.Milliseconds()
		r.Retry = &ms
	}
	return r
}

// specInputs returns the streams of the conformance vectors in
// sse/testdata/spec (sse/testdata/spec/README.md describes them).
func specInputs(tb testing.TB) [][]byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("..", "sse", "testdata", "spec", "*.json"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no vectors in sse/testdata/spec: %v", err)
	}
	var inputs [][]byte
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			tb.Fatal(err)
		}
		var spec struct {
			Cases []struct {
				Input json.RawMessage `json:"input"`
			} `json:"cases"`
		}
		if err := json.Unmarshal(b, &spec); err != nil {
			tb.Fatalf("%s: %v", file, err)
		}
		for _, c := range spec.Cases {
			var text string
			if json.Unmarshal(c.Input, &text) == nil {
				inputs = append(inputs, []byte(text))
				continue
			}
			var parts []any
			if err := json.Unmarshal(c.Input, &parts); err != nil {
				tb.Fatalf("%s: input %s: %v", file, c.Input, err)
			}
			var in []byte
			for _, part := range parts {
				switch v := part.(type) {
				case string:
					in = append(in, v...)
				case map[string]any:
					raw, _ := v["bytes"].(string)
					bs, err := hex.DecodeString(strings.ReplaceAll(raw, " ", ""))
					if err != nil {
						tb.Fatalf("%s: input part %v: %v", file, v, err)
					}
					in = append(in, bs...)
				}
			}
			inputs = append(inputs, in)
		}
	}
	return inputs
}

// FuzzParser feeds the same bytes to herald.js's Parser (in node) and to
// the Go Decoder, with the default maximum size and with 16 bytes, the JS
// side split in two chunks: both must dispatch the same events and end
// with the same last event ID, reconnection time and error. The seeds are
// the conformance vectors both are held to.
func FuzzParser(f *testing.F) {
	p := startNodeParser(f)
	for _, in := range specInputs(f) {
		f.Add(in)
	}
	f.Add([]byte("\xEF\xBB\xBFid: 1\r\nevent: a\r\ndata: \xF0\x9F\x98\x80\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, maxSize := range []int{0, 16} {
			want := goDecode(in, maxSize)
			for _, cut := range []int{len(in), len(in) / 3} {
				got := p.parse(t, in, maxSize, cut)
				if g, w := mustJSON(got), mustJSON(want); g != w {
					t.Fatalf("stream %q (maxSize %d, split at %d):\nherald.js: %s\nGo:        %s", in, maxSize, cut, g, w)
				}
			}
		}
	})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
