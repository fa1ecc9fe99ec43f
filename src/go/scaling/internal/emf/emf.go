// Package emf writes CloudWatch Embedded Metric Format records: one JSON
// object per line on stdout, which Lambda's log pipeline turns into metrics.
package emf

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Unit names used here.
const (
	Count = "Count"
)

// Dimension is one metric dimension.
type Dimension struct {
	Name  string
	Value string
}

// Writer emits EMF records to Out.
type Writer struct {
	Namespace string
	// Service is added as the "service" property (not a dimension).
	Service string
	Out     io.Writer
	Now     func() time.Time

	mu sync.Mutex
}

// New returns a Writer.
func New(out io.Writer, namespace, service string, now func() time.Time) *Writer {
	return &Writer{Namespace: namespace, Service: service, Out: out, Now: now}
}

type metricDef struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type directive struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

type metadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// Put writes one record with a single metric, its dimensions (one dimension
// set) and extra properties (searchable in Logs Insights, not dimensions).
func (w *Writer) Put(name, unit string, value float64, dims []Dimension, props map[string]any) error {
	rec := make(map[string]any, len(dims)+len(props)+3)
	for k, v := range props {
		rec[k] = v
	}
	if w.Service != "" {
		rec["service"] = w.Service
	}
	dimNames := make([]string, 0, len(dims))
	for _, d := range dims {
		dimNames = append(dimNames, d.Name)
		rec[d.Name] = d.Value
	}
	rec[name] = value
	rec["_aws"] = metadata{
		Timestamp: w.Now().UnixMilli(),
		CloudWatchMetrics: []directive{{
			Namespace:  w.Namespace,
			Dimensions: [][]string{dimNames},
			Metrics:    []metricDef{{Name: name, Unit: unit}},
		}},
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode EMF record: %w", err)
	}
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.Out.Write(b); err != nil {
		return fmt.Errorf("write EMF record: %w", err)
	}
	return nil
}
