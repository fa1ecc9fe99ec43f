package config

import (
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func valid() map[string]string {
	return map[string]string{
		"ENVIRONMENT": "dev",
		"REGION":      "eu-west-1",
		"DDB_TABLE":   "fleet-registry",
		"SNS_TOPIC":   "arn:aws:sns:eu-west-1:123456789012:fleet-ops",
	}
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load(env(valid()))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Environment: "dev", LogLevel: slog.LevelInfo, Region: "eu-west-1", Table: "fleet-registry",
		TopicARN: "arn:aws:sns:eu-west-1:123456789012:fleet-ops", Regions: []string{"eu-west-1"},
		FleetTagKey: "Fleet", ServiceName: "scaling", MetricsNamespace: "FleetOps",
		MaxAttempts: 5, DecisionTTL: 30 * 24 * time.Hour,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got %+v\nwant %+v", cfg, want)
	}
}

func TestLoadOverrides(t *testing.T) {
	m := valid()
	m["LOG_LEVEL"] = "warning"
	m["REGIONS"] = "eu-west-1, us-east-1,"
	m["FLEET_TAG_KEY"] = "fleet"
	m["DRY_RUN"] = "TRUE"
	m["AWS_ENDPOINT_URL"] = "http://127.0.0.1:5000"
	m["POWERTOOLS_METRICS_NAMESPACE"] = "Test"
	m["AWS_MAX_ATTEMPTS"] = "3"
	m["DECISION_TTL_DAYS"] = "7"
	cfg, err := Load(env(m))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LogLevel != slog.LevelWarn || !cfg.DryRun || cfg.MaxAttempts != 3 || cfg.MetricsNamespace != "Test" ||
		cfg.EndpointURL != "http://127.0.0.1:5000" || cfg.FleetTagKey != "fleet" || cfg.DecisionTTL != 7*24*time.Hour ||
		!reflect.DeepEqual(cfg.Regions, []string{"eu-west-1", "us-east-1"}) {
		t.Fatalf("unexpected config %+v", cfg)
	}
}

func TestLoadReportsEveryBadVariableInOneLine(t *testing.T) {
	m := map[string]string{
		"ENVIRONMENT":      "qa",
		"LOG_LEVEL":        "loud",
		"REGION":           "Ireland",
		"SNS_TOPIC":        "fleet-ops",
		"REGIONS":          "eu-west-1,mars-1",
		"DRY_RUN":          "maybe",
		"AWS_MAX_ATTEMPTS": "0",
	}
	_, err := Load(env(m))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *Error, got %v", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("message spans lines: %q", msg)
	}
	for _, v := range []string{"ENVIRONMENT", "LOG_LEVEL", "REGION ", "DDB_TABLE", "SNS_TOPIC", "REGIONS", "DRY_RUN", "AWS_MAX_ATTEMPTS"} {
		if !strings.Contains(msg, v) {
			t.Errorf("message does not name %s: %s", v, msg)
		}
	}
	if len(ce.Problems) != 8 {
		t.Errorf("want 8 problems, got %d: %v", len(ce.Problems), ce.Problems)
	}
}
