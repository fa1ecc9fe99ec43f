// Command bootstrap is the fleet-ops scaling Lambda (runtime provided.al2023,
// handler "bootstrap"): CloudWatch alarm state changes -> safe, idempotent
// Auto Scaling decisions. See internal/scaler for the sequence of steps.
//
// Configuration comes from the environment variables shared with the Python
// functions (docs/CONVENTIONS.md); an invalid configuration stops the cold
// start with one line naming every bad variable and a non-zero exit.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/fleetops/scaling/internal/awsclient"
	"github.com/fleetops/scaling/internal/config"
	"github.com/fleetops/scaling/internal/emf"
	"github.com/fleetops/scaling/internal/registry"
	"github.com/fleetops/scaling/internal/scaler"
)

func main() {
	h, err := setup(context.Background(), os.LookupEnv, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scaling: "+err.Error())
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// setup loads the configuration and builds the handler with real AWS
// clients. Logs and EMF records go to out (stdout in Lambda).
func setup(ctx context.Context, lookup func(string) (string, bool), out io.Writer) (*scaler.Handler, error) {
	cfg, err := config.Load(lookup)
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: cfg.LogLevel})).
		With("service", cfg.ServiceName, "environment", cfg.Environment)
	slog.SetDefault(logger)

	awsCfg, err := awsclient.LoadConfig(ctx, awsclient.Settings{Region: cfg.Region, MaxAttempts: cfg.MaxAttempts})
	if err != nil {
		return nil, err
	}
	asgClients := awsclient.NewAutoScalingClients(awsCfg)
	h := scaler.New(scaler.Deps{
		Store:       registry.New(dynamodb.NewFromConfig(awsCfg), cfg.Table),
		AutoScaling: func(region string) scaler.AutoScalingAPI { return asgClients.For(region) },
		SNS:         sns.NewFromConfig(awsCfg),
		Metrics:     emf.New(out, cfg.MetricsNamespace, cfg.ServiceName, time.Now),
		Logger:      logger,
		Now:         time.Now,
	}, scaler.Options{
		Environment: cfg.Environment,
		TopicARN:    cfg.TopicARN,
		DryRun:      cfg.DryRun,
		DecisionTTL: cfg.DecisionTTL,
	})
	logger.Info("cold start",
		"region", cfg.Region, "table", cfg.Table, "dry_run", cfg.DryRun,
		"max_attempts", cfg.MaxAttempts, "custom_endpoint", cfg.EndpointURL != "")
	return h, nil
}
