package emf

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestPut(t *testing.T) {
	var buf bytes.Buffer
	w := New(&buf, "FleetOps", "scaling", func() time.Time { return time.UnixMilli(1700000000123) })
	if err := w.Put("Decisions", Count, 1, []Dimension{{"Outcome", "applied"}}, map[string]any{"alarm": "a"}); err != nil {
		t.Fatal(err)
	}
	line := buf.Bytes()
	if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
		t.Fatalf("want exactly one line, got %q", line)
	}
	var got map[string]any
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"_aws": map[string]any{
			"Timestamp": float64(1700000000123),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  "FleetOps",
				"Dimensions": []any{[]any{"Outcome"}},
				"Metrics":    []any{map[string]any{"Name": "Decisions", "Unit": "Count"}},
			}},
		},
		"Outcome":   "applied",
		"Decisions": float64(1),
		"service":   "scaling",
		"alarm":     "a",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}
