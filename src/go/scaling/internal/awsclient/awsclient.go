// Package awsclient builds the AWS SDK configuration and clients: standard
// retryer (exponential backoff with jitter, throttling retried) with a
// configurable number of attempts, region per client, and the endpoint from
// AWS_ENDPOINT_URL (read by config.LoadDefaultConfig in this SDK version),
// so the binary can run against a local AWS emulator.
package awsclient

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
)

// Settings for LoadConfig.
type Settings struct {
	Region string
	// MaxAttempts per API call, including the first.
	MaxAttempts int
	// Backoff overrides the retry delay (tests); nil = exponential backoff
	// with full jitter, capped at MaxBackoff.
	Backoff retry.BackoffDelayer
}

// MaxBackoff caps the delay between two attempts.
const MaxBackoff = 10 * time.Second

// NewRetryer returns the retryer used by every client.
func NewRetryer(maxAttempts int, backoff retry.BackoffDelayer) aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.MaxBackoff = MaxBackoff
		if backoff != nil {
			o.Backoff = backoff
		} else {
			o.Backoff = retry.NewExponentialJitterBackoff(MaxBackoff)
		}
	})
}

// LoadConfig loads the default AWS configuration (environment, shared files,
// Lambda role) for the home region.
func LoadConfig(ctx context.Context, s Settings) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(s.Region),
		config.WithRetryer(func() aws.Retryer { return NewRetryer(s.MaxAttempts, s.Backoff) }),
	)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg, nil
}

// AutoScalingClients hands out one Auto Scaling client per region.
type AutoScalingClients struct {
	cfg     aws.Config
	mu      sync.Mutex
	clients map[string]*autoscaling.Client
}

// NewAutoScalingClients returns a per-region client cache.
func NewAutoScalingClients(cfg aws.Config) *AutoScalingClients {
	return &AutoScalingClients{cfg: cfg, clients: map[string]*autoscaling.Client{}}
}

// For returns the client for region.
func (c *AutoScalingClients) For(region string) *autoscaling.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[region]; ok {
		return cl
	}
	cl := autoscaling.NewFromConfig(c.cfg, func(o *autoscaling.Options) { o.Region = region })
	c.clients[region] = cl
	return cl
}
