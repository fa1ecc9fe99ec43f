package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestSetupRejectsBadConfiguration(t *testing.T) {
	_, err := setup(context.Background(), lookup(map[string]string{"ENVIRONMENT": "qa", "DRY_RUN": "yes"}), &bytes.Buffer{})
	if err == nil {
		t.Fatal("want an error")
	}
	msg := err.Error()
	for _, v := range []string{"ENVIRONMENT", "REGION", "DDB_TABLE", "SNS_TOPIC", "DRY_RUN"} {
		if !strings.Contains(msg, v) {
			t.Errorf("%q does not name %s", msg, v)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("message spans lines: %q", msg)
	}
}

func TestSetupBuildsHandler(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	var out bytes.Buffer
	h, err := setup(context.Background(), lookup(map[string]string{
		"ENVIRONMENT": "dev", "REGION": "us-east-1", "DDB_TABLE": "registry",
		"SNS_TOPIC": "arn:aws:sns:us-east-1:123456789012:fleet", "DRY_RUN": "true",
	}), &out)
	if err != nil || h == nil {
		t.Fatalf("setup: %v", err)
	}
	if !strings.Contains(out.String(), `"msg":"cold start"`) || !strings.Contains(out.String(), `"dry_run":true`) {
		t.Fatalf("cold start not logged: %s", out.String())
	}
	// An unsupported payload fails before any AWS call (none is reachable here).
	if _, err := h.Handle(context.Background(), []byte(`{"hello":"world"}`)); err == nil ||
		!strings.HasPrefix(err.Error(), "unsupported event: ") {
		t.Fatalf("got %v", err)
	}
}
