package registry

// These tests need no DynamoDB: they check what the registry asks DynamoDB
// for (keys, items, update and condition expressions) and how it reads and
// maps the answers (attribute decoding, policy defaults merge, conditional
// check failures). stubDB below evaluates no expression; what DynamoDB does
// with the conditions (idempotent decision claim, cooldown claim and release)
// is proven against moto by the artifact test
// tests/python/fleetops_tests/artifacts/test_scaling_bootstrap.py.

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/fleetops/scaling/internal/policy"
)

var (
	ctx = context.Background()
	t0  = time.Date(2024, 5, 14, 9, 21, 7, 0, time.UTC)
)

type item = map[string]types.AttributeValue

func S(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func N(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
func M(m item) types.AttributeValue   { return &types.AttributeValueMemberM{Value: m} }
func L(v ...types.AttributeValue) types.AttributeValue {
	return &types.AttributeValueMemberL{Value: v}
}

var null = &types.AttributeValueMemberNULL{Value: true}

// stubDB is a point-of-use stand-in for DynamoDBAPI: GetItem answers the
// canned item stored under the requested pk/sk; PutItem and UpdateItem
// record their input and answer the scripted output or error.
type stubDB struct {
	items     map[[2]string]item
	err       error // answered by every call
	putErr    error
	updateErr error
	updateOut *dynamodb.UpdateItemOutput

	gets    []*dynamodb.GetItemInput
	puts    []*dynamodb.PutItemInput
	updates []*dynamodb.UpdateItemInput
}

func newStub(items ...item) *stubDB {
	db := &stubDB{items: map[[2]string]item{}}
	for _, it := range items {
		db.items[[2]string{str(it["pk"]), str(it["sk"])}] = it
	}
	return db
}

func str(v types.AttributeValue) string {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return v.Value
	}
	return ""
}

func (db *stubDB) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	db.gets = append(db.gets, in)
	if db.err != nil {
		return nil, db.err
	}
	return &dynamodb.GetItemOutput{Item: db.items[[2]string{str(in.Key["pk"]), str(in.Key["sk"])}]}, nil
}

func (db *stubDB) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	db.puts = append(db.puts, in)
	if db.err != nil {
		return nil, db.err
	}
	return &dynamodb.PutItemOutput{}, db.putErr
}

func (db *stubDB) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	db.updates = append(db.updates, in)
	if db.err != nil {
		return nil, db.err
	}
	if db.updateErr != nil {
		return nil, db.updateErr
	}
	if db.updateOut != nil {
		return db.updateOut, nil
	}
	return &dynamodb.UpdateItemOutput{}, nil
}

// conditionFailed is a failed condition as the SDK returns it.
func conditionFailed(op string) error {
	return &smithy.OperationError{ServiceID: "DynamoDB", OperationName: op,
		Err: &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}}
}

func throttled(op string) error {
	return &smithy.OperationError{ServiceID: "DynamoDB", OperationName: op,
		Err: &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}}
}

func assertKey(t *testing.T, what string, key item, pk, sk string) {
	t.Helper()
	if len(key) != 2 || str(key["pk"]) != pk || str(key["sk"]) != sk {
		t.Fatalf("%s key %v, want %s / %s", what, key, pk, sk)
	}
}

func TestKeyFormats(t *testing.T) {
	k := ASGKey{Fleet: "web", Region: "eu-west-1", Name: "web-asg"}
	for _, tt := range [][2]string{
		{AlarmPK("web-cpu-high"), "ALARM#web-cpu-high"},
		{AlarmPK("*"), "ALARM#*"},
		{DecisionSK("2024-05-14T09:21:07.311Z"), "DECISION#2024-05-14T09:21:07.311Z"},
		{k.pk(), "FLEET#web"},
		{k.sk(), "ASG#eu-west-1#web-asg"},
	} {
		if tt[0] != tt[1] {
			t.Errorf("got %q, want %q", tt[0], tt[1])
		}
	}
}

// ---- policy ----

func defaultsItem() item {
	return item{
		"pk": S("ALARM#*"), "sk": S("POLICY"), "entity": S("scaling_policy"),
		"cooldown_seconds": N("300"), "max_step": N("4"), "min_capacity": N("1"),
		"on_ok": M(item{"direction": S("down"), "step_adjustments": L(M(item{"adjustment": N("1")}))}),
	}
}

func alarmItem() item {
	return item{
		"pk": S("ALARM#web-cpu-high"), "sk": S("POLICY"), "entity": S("scaling_policy"),
		"fleet": S("web"), "region": S("eu-west-1"), "asg_name": S(" web-asg "),
		"on_alarm": M(item{"direction": S("up"), "step_adjustments": L(
			M(item{"upper_bound": N("10"), "adjustment": N("1")}),
			M(item{"lower_bound": N("10"), "upper_bound": null, "adjustment": N("3")}),
		)}),
		"max_capacity": N("20"), "cooldown_seconds": N("120"), "comparison_operator": null,
	}
}

func fl(v float64) *float64 { return &v }
func in(v int) *int         { return &v }

func TestGetPolicyMergesDefaults(t *testing.T) {
	db := newStub(defaultsItem(), alarmItem())
	got, err := New(db, "registry").GetPolicy(ctx, "web-cpu-high")
	if err != nil {
		t.Fatal(err)
	}
	want := &policy.Policy{
		AlarmName: "web-cpu-high", Fleet: "web", Region: "eu-west-1", ASGName: "web-asg",
		OnAlarm: &policy.Action{Direction: policy.Up, Steps: []policy.Step{
			{UpperBound: fl(10), Adjustment: 1}, {LowerBound: fl(10), Adjustment: 3},
		}},
		OnOK:        &policy.Action{Direction: policy.Down, Steps: []policy.Step{{Adjustment: 1}}},
		MinCapacity: in(1), MaxCapacity: in(20), CooldownSeconds: 120, MaxStep: 4,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	// The alarm's item first, then the defaults; eventually consistent reads.
	if len(db.gets) != 2 {
		t.Fatalf("%d GetItem calls", len(db.gets))
	}
	assertKey(t, "policy", db.gets[0].Key, "ALARM#web-cpu-high", "POLICY")
	assertKey(t, "defaults", db.gets[1].Key, "ALARM#*", "POLICY")
	for _, g := range db.gets {
		if aws.ToString(g.TableName) != "registry" || aws.ToBool(g.ConsistentRead) {
			t.Fatalf("GetItem %+v", g)
		}
	}
}

func TestGetPolicyWithoutDefaults(t *testing.T) {
	got, err := New(newStub(alarmItem()), "registry").GetPolicy(ctx, "web-cpu-high")
	if err != nil {
		t.Fatal(err)
	}
	if got.OnOK != nil || got.MinCapacity != nil || got.MaxStep != 0 || got.CooldownSeconds != 120 {
		t.Fatalf("got %+v", got)
	}
}

func TestGetPolicyNullClearsDefault(t *testing.T) {
	it := alarmItem()
	it["on_ok"] = null
	it["min_capacity"] = null
	got, err := New(newStub(defaultsItem(), it), "registry").GetPolicy(ctx, "web-cpu-high")
	if err != nil {
		t.Fatal(err)
	}
	if got.OnOK != nil || got.MinCapacity != nil {
		t.Fatalf("on_ok and min_capacity should be cleared, got %+v", got)
	}
}

func TestGetPolicyAbsent(t *testing.T) {
	db := newStub(defaultsItem()) // defaults alone never make a policy
	got, err := New(db, "registry").GetPolicy(ctx, "unknown-alarm")
	if err != nil || got != nil {
		t.Fatalf("want nil, nil; got %+v, %v", got, err)
	}
	if len(db.gets) != 1 {
		t.Fatalf("defaults should not be read without a policy: %d reads", len(db.gets))
	}
}

func TestGetPolicyInvalid(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(it item)
		want []string
	}{
		{"wrong types", func(it item) {
			it["fleet"] = N("3")
			it["max_capacity"] = N("2.5")
			it["cooldown_seconds"] = S("300")
			it["on_alarm"] = M(item{"direction": S("UP"), "step_adjustments": L(M(item{"lower_bound": S("x")}), S("y"))})
			it["on_ok"] = S("down")
		}, []string{
			"fleet must be a string", "max_capacity must be an integer (got 2.5)", "cooldown_seconds must be a number",
			"on_alarm.step_adjustments[0].lower_bound must be a number", "on_alarm.step_adjustments[1] must be a map",
			"on_ok must be a map",
		}},
		{"missing adjustment", func(it item) {
			it["on_alarm"] = M(item{"direction": S("up"), "step_adjustments": L(M(item{"lower_bound": N("1")}))})
		}, []string{"on_alarm.step_adjustments[0].adjustment is required"}},
		{"steps not a list", func(it item) {
			it["on_alarm"] = M(item{"direction": S("up"), "step_adjustments": S("1")})
		}, []string{"on_alarm.step_adjustments must be a list"}},
		{"non-finite bound", func(it item) {
			it["on_alarm"] = M(item{"direction": S("up"), "step_adjustments": L(M(item{"lower_bound": N("NaN"), "adjustment": N("1")}))})
		}, []string{"on_alarm.step_adjustments[0].lower_bound must be a finite number"}},
		{"fails validation", func(it item) { delete(it, "region"); it["min_capacity"] = N("30") }, []string{
			"region is required", "min_capacity 30 > max_capacity 20",
		}},
	} {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			it := alarmItem()
			tt.edit(it)
			_, err := New(newStub(it), "registry").GetPolicy(ctx, "web-cpu-high")
			if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), `for alarm "web-cpu-high"`) {
				t.Fatalf("want ErrInvalidPolicy, got %v", err)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

// ---- lock and last scaled ----

func TestGetLock(t *testing.T) {
	lock := func(attrs item) item {
		it := item{"pk": S("FLEET#web"), "sk": S("LOCK"), "entity": S("lock")}
		for k, v := range attrs {
			it[k] = v
		}
		return it
	}
	for _, tt := range []struct {
		name   string
		items  []item
		want   policy.Lock
		active bool
	}{
		{"no lock", nil, policy.Lock{}, false},
		{"live lock", []item{lock(item{"owner": S("deploy-1"), "kind": S("deployment"), "lock_expires_at": N("1715678527")})},
			policy.Lock{Exists: true, Owner: "deploy-1", Kind: "deployment", ExpiresAt: time.Unix(1715678527, 0).UTC()}, true},
		{"expired lock", []item{lock(item{"owner": S("deploy-1"), "lock_expires_at": N("1715678466")})},
			policy.Lock{Exists: true, Owner: "deploy-1", ExpiresAt: time.Unix(1715678466, 0).UTC()}, false},
		{"fractional expiry", []item{lock(item{"lock_expires_at": N("1715678527.9")})},
			policy.Lock{Exists: true, ExpiresAt: time.Unix(1715678527, 0).UTC()}, true},
		{"no expiry is held", []item{lock(item{"owner": S("maint")})}, policy.Lock{Exists: true, Owner: "maint"}, true},
		{"unreadable expiry is held", []item{lock(item{"lock_expires_at": N("soon")})}, policy.Lock{Exists: true}, true},
		{"expiry of the wrong type is held", []item{lock(item{"lock_expires_at": S("1715678466")})}, policy.Lock{Exists: true}, true},
	} {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			db := newStub(tt.items...)
			l, err := New(db, "registry").GetLock(ctx, "web")
			if err != nil || l != tt.want {
				t.Fatalf("got %+v %v, want %+v", l, err, tt.want)
			}
			if l.Active(t0) != tt.active {
				t.Fatalf("active at %v = %v", t0, l.Active(t0))
			}
			assertKey(t, "lock", db.gets[0].Key, "FLEET#web", "LOCK")
			if !aws.ToBool(db.gets[0].ConsistentRead) {
				t.Fatalf("the lock must be read consistently")
			}
		})
	}
}

func TestGetLastScaled(t *testing.T) {
	k := ASGKey{Fleet: "web", Region: "eu-west-1", Name: "web-asg"}
	asg := func(attrs item) item {
		it := item{"pk": S("FLEET#web"), "sk": S("ASG#eu-west-1#web-asg"), "entity": S("asg"), "sync_version": N("7")}
		for k, v := range attrs {
			it[k] = v
		}
		return it
	}
	for _, tt := range []struct {
		name    string
		items   []item
		want    time.Time
		wantErr string
	}{
		{"no record", nil, time.Time{}, ""},
		{"never scaled", []item{asg(nil)}, time.Time{}, ""},
		{"scaled", []item{asg(item{"last_scaled_at": N("1715678467")})}, t0, ""},
		{"not epoch seconds", []item{asg(item{"last_scaled_at": N("1715678467.5")})}, time.Time{}, "is not epoch seconds"},
	} {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			db := newStub(tt.items...)
			got, err := New(db, "registry").GetLastScaled(ctx, k)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("want error %q, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Fatalf("got %v %v, want %v", got, err, tt.want)
			}
			assertKey(t, "ASG", db.gets[0].Key, "FLEET#web", "ASG#eu-west-1#web-asg")
			if !aws.ToBool(db.gets[0].ConsistentRead) {
				t.Fatalf("last_scaled_at must be read consistently")
			}
		})
	}
}

// ---- decision record ----

func decision(outcome string) Decision {
	return Decision{
		AlarmName: "web-cpu-high", TimeKey: "2024-05-14T09:21:07.311Z",
		AlarmARN: "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:web-cpu-high", State: "ALARM", PreviousState: "OK",
		Source: "alarm-action", Fleet: "web", Region: "eu-west-1", ASGName: "web-asg",
		HasCapacity: true, From: 4, To: 5, Adjustment: 1, Breach: 23.400000000000006, BreachKnown: true,
		Outcome: outcome, Reason: "r", DecidedAt: t0, ExpiresAt: t0.Add(30 * 24 * time.Hour),
	}
}

func TestClaimDecisionRequest(t *testing.T) {
	db := newStub()
	stale := t0.Add(-15 * time.Minute)
	if err := New(db, "registry").ClaimDecision(ctx, decision(OutcomePending), stale); err != nil {
		t.Fatal(err)
	}
	put := db.puts[0]
	wantItem := item{
		"pk": S("ALARM#web-cpu-high"), "sk": S("DECISION#2024-05-14T09:21:07.311Z"), "entity": S("scaling_decision"),
		"alarm_name": S("web-cpu-high"), "alarm_arn": S("arn:aws:cloudwatch:eu-west-1:111122223333:alarm:web-cpu-high"),
		"state": S("ALARM"), "previous_state": S("OK"), "state_changed_at": S("2024-05-14T09:21:07.311Z"),
		"source": S("alarm-action"), "fleet": S("web"), "region": S("eu-west-1"), "asg_name": S("web-asg"),
		"from_capacity": N("4"), "to_capacity": N("5"), "adjustment": N("1"), "breach": N("23.4"),
		"outcome": S("pending"), "reason": S("r"), "dry_run": &types.AttributeValueMemberBOOL{Value: false},
		"decided_at": S("2024-05-14T09:21:07.000Z"), "updated_at": S("2024-05-14T09:21:07.000Z"),
		"claimed_at": N("1715678467"), "expires_at": N("1718270467"),
	}
	if aws.ToString(put.TableName) != "registry" || !reflect.DeepEqual(put.Item, wantItem) {
		t.Fatalf("item\n got %v\nwant %v", put.Item, wantItem)
	}
	// Claimable only if new, left failed, or pending since before the stale limit.
	if got := aws.ToString(put.ConditionExpression); got != "attribute_not_exists(#pk) OR #outcome = :failed OR (#outcome = :pending AND #claimed_at < :stale)" {
		t.Fatalf("condition %q", got)
	}
	if want := map[string]string{"#pk": "pk", "#outcome": "outcome", "#claimed_at": "claimed_at"}; !reflect.DeepEqual(put.ExpressionAttributeNames, want) {
		t.Fatalf("names %v", put.ExpressionAttributeNames)
	}
	if want := (item{":failed": S("failed"), ":pending": S("pending"), ":stale": N("1715677567")}); !reflect.DeepEqual(put.ExpressionAttributeValues, want) {
		t.Fatalf("values %v", put.ExpressionAttributeValues)
	}
}

func TestClaimDecisionOmitsUnknowns(t *testing.T) {
	db := newStub()
	d := Decision{AlarmName: "a", TimeKey: "k", State: "ALARM", Source: "sns", Outcome: "no_policy", Reason: "r",
		DryRun: true, DecidedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := New(db, "registry").ClaimDecision(ctx, d, t0); err != nil {
		t.Fatal(err)
	}
	it := db.puts[0].Item
	for _, absent := range []string{"alarm_arn", "previous_state", "fleet", "region", "asg_name", "from_capacity", "to_capacity", "adjustment", "breach", "error"} {
		if _, ok := it[absent]; ok {
			t.Errorf("%s written for an unknown value", absent)
		}
	}
	if it["dry_run"].(*types.AttributeValueMemberBOOL).Value != true || str(it["expires_at"]) != "1715682067" {
		t.Fatalf("item %v", it)
	}
}

func TestClaimDecisionErrors(t *testing.T) {
	db := newStub()
	r := New(db, "registry")
	db.putErr = conditionFailed("PutItem")
	if err := r.ClaimDecision(ctx, decision(OutcomePending), t0); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("a failed condition is a duplicate, got %v", err)
	}
	db.putErr = throttled("PutItem")
	err := r.ClaimDecision(ctx, decision(OutcomePending), t0)
	var api smithy.APIError
	if errors.Is(err, ErrDuplicate) || !errors.As(err, &api) || api.ErrorCode() != "ThrottlingException" ||
		!strings.Contains(err.Error(), "put decision ALARM#web-cpu-high/DECISION#2024-05-14T09:21:07.311Z") {
		t.Fatalf("throttling must be returned wrapped, not look like a duplicate: %v", err)
	}
}

func TestFinishDecisionRequest(t *testing.T) {
	for _, tt := range []struct {
		name, errMsg, expr string
		values             item
	}{
		{"with error", "boom", "SET #outcome = :outcome, #reason = :reason, #updated_at = :updated_at, #error = :error",
			item{":outcome": S("failed"), ":reason": S("why"), ":updated_at": S("2024-05-14T09:21:07.000Z"), ":error": S("boom")}},
		{"clears the error", "", "SET #outcome = :outcome, #reason = :reason, #updated_at = :updated_at REMOVE #error",
			item{":outcome": S("failed"), ":reason": S("why"), ":updated_at": S("2024-05-14T09:21:07.000Z")}},
	} {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			db := newStub()
			if err := New(db, "registry").FinishDecision(ctx, "web-cpu-high", "2024-05-14T09:21:07.311Z", "failed", "why", tt.errMsg, t0); err != nil {
				t.Fatal(err)
			}
			u := db.updates[0]
			assertKey(t, "decision", u.Key, "ALARM#web-cpu-high", "DECISION#2024-05-14T09:21:07.311Z")
			if aws.ToString(u.UpdateExpression) != tt.expr || !reflect.DeepEqual(u.ExpressionAttributeValues, tt.values) {
				t.Fatalf("update %q %v", aws.ToString(u.UpdateExpression), u.ExpressionAttributeValues)
			}
			// Never creates a record that was not claimed.
			if aws.ToString(u.ConditionExpression) != "attribute_exists(#pk)" || u.ExpressionAttributeNames["#pk"] != "pk" {
				t.Fatalf("condition %q %v", aws.ToString(u.ConditionExpression), u.ExpressionAttributeNames)
			}
		})
	}
}

func TestFinishDecisionReturnsConditionFailure(t *testing.T) {
	db := newStub()
	db.updateErr = conditionFailed("UpdateItem")
	err := New(db, "registry").FinishDecision(ctx, "a", "k", "applied", "", "", t0)
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) || !strings.Contains(err.Error(), "update decision ALARM#a/DECISION#k to applied") {
		t.Fatalf("want the conditional check failure, got %v", err)
	}
}

// ---- cooldown ----

func TestClaimCooldownRequest(t *testing.T) {
	k := ASGKey{Fleet: "web", Region: "eu-west-1", Name: "web-asg"}
	db := newStub()
	c, err := New(db, "registry").ClaimCooldown(ctx, k, t0, 300*time.Second, "web-cpu-high@2024-05-14T09:21:07.311Z")
	if err != nil {
		t.Fatal(err)
	}
	u := db.updates[0]
	assertKey(t, "ASG", u.Key, "FLEET#web", "ASG#eu-west-1#web-asg")
	// Only the scaling attributes; entity only if the record does not exist yet.
	if got := aws.ToString(u.UpdateExpression); got != "SET #lsa = :now, #lsb = :by, #entity = if_not_exists(#entity, :entity)" {
		t.Fatalf("update %q", got)
	}
	if got := aws.ToString(u.ConditionExpression); got != "attribute_not_exists(#lsa) OR #lsa <= :cutoff" {
		t.Fatalf("condition %q", got)
	}
	if want := map[string]string{"#lsa": "last_scaled_at", "#lsb": "last_scaled_by", "#entity": "entity"}; !reflect.DeepEqual(u.ExpressionAttributeNames, want) {
		t.Fatalf("names %v", u.ExpressionAttributeNames)
	}
	want := item{":now": N("1715678467"), ":by": S("web-cpu-high@2024-05-14T09:21:07.311Z"), ":entity": S("asg"), ":cutoff": N("1715678167")}
	if !reflect.DeepEqual(u.ExpressionAttributeValues, want) {
		t.Fatalf("values %v", u.ExpressionAttributeValues)
	}
	if u.ReturnValues != types.ReturnValueUpdatedOld {
		t.Fatalf("ReturnValues %q: the previous value is needed to release the claim", u.ReturnValues)
	}
	if c != (CooldownClaim{Key: k, At: 1715678467, By: "web-cpu-high@2024-05-14T09:21:07.311Z"}) {
		t.Fatalf("claim %+v", c)
	}
}

func TestClaimCooldownKeepsThePreviousValue(t *testing.T) {
	k := ASGKey{Fleet: "web", Region: "eu-west-1", Name: "web-asg"}
	for _, tt := range []struct {
		name string
		old  item
		want CooldownClaim
	}{
		{"previous claim", item{"last_scaled_at": N("1715670000"), "last_scaled_by": S("old@t")},
			CooldownClaim{Key: k, At: 1715678467, By: "me", HadPrev: true, PrevAt: "1715670000", PrevBy: "old@t"}},
		{"previous time only", item{"last_scaled_at": N("1715670000")},
			CooldownClaim{Key: k, At: 1715678467, By: "me", HadPrev: true, PrevAt: "1715670000"}},
		{"record existed without a claim", item{"entity": S("asg")}, CooldownClaim{Key: k, At: 1715678467, By: "me"}},
	} {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			db := newStub()
			db.updateOut = &dynamodb.UpdateItemOutput{Attributes: tt.old}
			c, err := New(db, "registry").ClaimCooldown(ctx, k, t0, 0, "me")
			if err != nil || c != tt.want {
				t.Fatalf("got %+v %v, want %+v", c, err, tt.want)
			}
			if str(db.updates[0].ExpressionAttributeValues[":cutoff"]) != "1715678467" {
				t.Fatalf("cooldown 0: cutoff must be now")
			}
		})
	}
}

func TestClaimCooldownErrors(t *testing.T) {
	db := newStub()
	r := New(db, "registry")
	k := ASGKey{Fleet: "web", Region: "eu-west-1", Name: "web-asg"}
	db.updateErr = conditionFailed("UpdateItem")
	if _, err := r.ClaimCooldown(ctx, k, t0, time.Minute, "x"); !errors.Is(err, ErrCooldownActive) {
		t.Fatalf("a failed condition means the cooldown is taken, got %v", err)
	}
	db.updateErr = throttled("UpdateItem")
	_, err := r.ClaimCooldown(ctx, k, t0, time.Minute, "x")
	var api smithy.APIError
	if errors.Is(err, ErrCooldownActive) || !errors.As(err, &api) || !strings.Contains(err.Error(), "claim cooldown on FLEET#web/ASG#eu-west-1#web-asg") {
		t.Fatalf("throttling must be returned wrapped, not look like a cooldown: %v", err)
	}
}

func TestReleaseCooldownRequest(t *testing.T) {
	k := ASGKey{Fleet: "web", Region: "eu-west-1", Name: "web-asg"}
	mine := item{":mine": N("1715678467"), ":by": S("me")}
	with := func(extra item) item {
		out := item{}
		for k, v := range mine {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	for _, tt := range []struct {
		name   string
		claim  CooldownClaim
		expr   string
		values item
	}{
		{"restores the previous claim", CooldownClaim{Key: k, At: 1715678467, By: "me", HadPrev: true, PrevAt: "1715670000", PrevBy: "old@t"},
			"SET #lsa = :prev, #lsb = :prevBy", with(item{":prev": N("1715670000"), ":prevBy": S("old@t")})},
		{"restores a previous time without owner", CooldownClaim{Key: k, At: 1715678467, By: "me", HadPrev: true, PrevAt: "1715670000"},
			"SET #lsa = :prev REMOVE #lsb", with(item{":prev": N("1715670000")})},
		{"removes a first claim", CooldownClaim{Key: k, At: 1715678467, By: "me"},
			"REMOVE #lsa, #lsb", with(nil)},
	} {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			db := newStub()
			if err := New(db, "registry").ReleaseCooldown(ctx, tt.claim); err != nil {
				t.Fatal(err)
			}
			u := db.updates[0]
			assertKey(t, "ASG", u.Key, "FLEET#web", "ASG#eu-west-1#web-asg")
			if aws.ToString(u.UpdateExpression) != tt.expr || !reflect.DeepEqual(u.ExpressionAttributeValues, tt.values) {
				t.Fatalf("update %q %v", aws.ToString(u.UpdateExpression), u.ExpressionAttributeValues)
			}
			// Only our own claim is released: a later claim by someone else stays.
			if aws.ToString(u.ConditionExpression) != "#lsa = :mine AND #lsb = :by" ||
				!reflect.DeepEqual(u.ExpressionAttributeNames, map[string]string{"#lsa": "last_scaled_at", "#lsb": "last_scaled_by"}) {
				t.Fatalf("condition %q %v", aws.ToString(u.ConditionExpression), u.ExpressionAttributeNames)
			}
		})
	}
}

func TestReleaseCooldownErrors(t *testing.T) {
	db := newStub()
	r := New(db, "registry")
	c := CooldownClaim{Key: ASGKey{Fleet: "web", Region: "eu-west-1", Name: "web-asg"}, At: 1, By: "me"}
	db.updateErr = conditionFailed("UpdateItem")
	if err := r.ReleaseCooldown(ctx, c); err != nil {
		t.Fatalf("someone else's claim since ours is not an error: %v", err)
	}
	db.updateErr = throttled("UpdateItem")
	var api smithy.APIError
	if err := r.ReleaseCooldown(ctx, c); !errors.As(err, &api) || !strings.Contains(err.Error(), "release cooldown on FLEET#web/ASG#eu-west-1#web-asg") {
		t.Fatalf("got %v", err)
	}
}

func TestReadErrorsAreWrapped(t *testing.T) {
	db := newStub(alarmItem())
	db.err = throttled("GetItem")
	r := New(db, "registry")
	var api smithy.APIError
	if _, err := r.GetPolicy(ctx, "web-cpu-high"); !errors.As(err, &api) || api.ErrorCode() != "ThrottlingException" ||
		!strings.Contains(err.Error(), `get policy of alarm "web-cpu-high"`) {
		t.Fatalf("GetPolicy: %v", err)
	}
	if _, err := r.GetLock(ctx, "web"); !errors.As(err, &api) || !strings.Contains(err.Error(), `get lock of fleet "web"`) {
		t.Fatalf("GetLock: %v", err)
	}
	if _, err := r.GetLastScaled(ctx, ASGKey{"web", "eu-west-1", "web-asg"}); !errors.As(err, &api) ||
		!strings.Contains(err.Error(), "get ASG record FLEET#web/ASG#eu-west-1#web-asg") {
		t.Fatalf("GetLastScaled: %v", err)
	}
}
