// Package config reads the scaling function's configuration from the
// environment variables shared with the Python functions (see
// docs/CONVENTIONS.md). Load reports every bad variable in one error.
package config

import (
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config is the validated configuration.
type Config struct {
	Environment string
	LogLevel    slog.Level
	// Region is the home region (registry table, SNS topic).
	Region   string
	Table    string
	TopicARN string
	// Regions are the fleet regions (REGIONS, default REGION).
	Regions     []string
	FleetTagKey string
	DryRun      bool
	// EndpointURL is AWS_ENDPOINT_URL (informational: the SDK reads it).
	EndpointURL      string
	ServiceName      string
	MetricsNamespace string
	// MaxAttempts bounds AWS SDK attempts per call, including the first
	// (AWS_MAX_ATTEMPTS, default 5): throttling is retried with exponential
	// backoff and jitter.
	MaxAttempts int
	// DecisionTTL is how long decision records are kept
	// (DECISION_TTL_DAYS, default 30).
	DecisionTTL time.Duration
}

// Defaults.
const (
	DefaultLogLevel         = "INFO"
	DefaultFleetTagKey      = "Fleet"
	DefaultServiceName      = "scaling"
	DefaultMetricsNamespace = "FleetOps"
	DefaultMaxAttempts      = 5
	DefaultDecisionTTLDays  = 30
)

// Error lists every invalid variable.
type Error struct {
	Problems []string
}

func (e *Error) Error() string {
	return "invalid configuration: " + strings.Join(e.Problems, "; ")
}

var (
	regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
	// arn:PARTITION:sns:REGION:ACCOUNT:TOPIC
	topicRE = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$`)
	tableRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,255}$`)
)

// Load reads the configuration through lookup (os.LookupEnv in production).
func Load(lookup func(string) (string, bool)) (Config, error) {
	get := func(k string) string {
		v, _ := lookup(k)
		return strings.TrimSpace(v)
	}
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	cfg := Config{}

	switch env := get("ENVIRONMENT"); env {
	case "dev", "staging", "prod":
		cfg.Environment = env
	case "":
		bad("ENVIRONMENT is required (dev, staging or prod)")
	default:
		bad("ENVIRONMENT must be dev, staging or prod (got %q)", env)
	}

	lvl := get("LOG_LEVEL")
	if lvl == "" {
		lvl = DefaultLogLevel
	}
	switch strings.ToUpper(lvl) {
	case "DEBUG":
		cfg.LogLevel = slog.LevelDebug
	case "INFO":
		cfg.LogLevel = slog.LevelInfo
	case "WARNING", "WARN":
		cfg.LogLevel = slog.LevelWarn
	case "ERROR":
		cfg.LogLevel = slog.LevelError
	default:
		bad("LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR (got %q)", lvl)
	}

	switch r := get("REGION"); {
	case r == "":
		bad("REGION is required")
	case !regionRE.MatchString(r):
		bad("REGION %q is not an AWS region code", r)
	default:
		cfg.Region = r
	}

	switch t := get("DDB_TABLE"); {
	case t == "":
		bad("DDB_TABLE is required")
	case !tableRE.MatchString(t):
		bad("DDB_TABLE %q is not a valid DynamoDB table name", t)
	default:
		cfg.Table = t
	}

	switch s := get("SNS_TOPIC"); {
	case s == "":
		bad("SNS_TOPIC is required (topic ARN)")
	case !topicRE.MatchString(s):
		bad("SNS_TOPIC %q is not an SNS topic ARN", s)
	default:
		cfg.TopicARN = s
	}

	if rs := get("REGIONS"); rs != "" {
		for _, r := range strings.Split(rs, ",") {
			r = strings.TrimSpace(r)
			if r == "" {
				continue
			}
			if !regionRE.MatchString(r) {
				bad("REGIONS entry %q is not an AWS region code", r)
				continue
			}
			cfg.Regions = append(cfg.Regions, r)
		}
		if len(cfg.Regions) == 0 {
			bad("REGIONS has no region")
		}
	} else if cfg.Region != "" {
		cfg.Regions = []string{cfg.Region}
	}

	cfg.FleetTagKey = get("FLEET_TAG_KEY")
	if cfg.FleetTagKey == "" {
		cfg.FleetTagKey = DefaultFleetTagKey
	}

	switch d := strings.ToLower(get("DRY_RUN")); d {
	case "", "false":
		cfg.DryRun = false
	case "true":
		cfg.DryRun = true
	default:
		bad("DRY_RUN must be true or false (got %q)", d)
	}

	cfg.EndpointURL = get("AWS_ENDPOINT_URL")
	if u := cfg.EndpointURL; u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		bad("AWS_ENDPOINT_URL must be an http(s) URL (got %q)", u)
	}

	cfg.ServiceName = get("POWERTOOLS_SERVICE_NAME")
	if cfg.ServiceName == "" {
		cfg.ServiceName = DefaultServiceName
	}
	cfg.MetricsNamespace = get("POWERTOOLS_METRICS_NAMESPACE")
	if cfg.MetricsNamespace == "" {
		cfg.MetricsNamespace = DefaultMetricsNamespace
	}

	cfg.MaxAttempts = DefaultMaxAttempts
	if v := get("AWS_MAX_ATTEMPTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 20 {
			bad("AWS_MAX_ATTEMPTS must be an integer from 1 to 20 (got %q)", v)
		} else {
			cfg.MaxAttempts = n
		}
	}

	days := DefaultDecisionTTLDays
	if v := get("DECISION_TTL_DAYS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 3650 {
			bad("DECISION_TTL_DAYS must be an integer from 1 to 3650 (got %q)", v)
		} else {
			days = n
		}
	}
	cfg.DecisionTTL = time.Duration(days) * 24 * time.Hour

	if len(probs) > 0 {
		return Config{}, &Error{Problems: probs}
	}
	return cfg, nil
}
