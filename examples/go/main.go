// A Go program against the stubs generated from dbond's .proto files: it builds
// a subscription command and the clients of every service, so a change to the
// protos that breaks Go code generation or the generated API fails to compile.
package main

import (
	"fmt"

	bondsv1 "dbond/gen/go/diaspora/bonds/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

func main() {
	sub := &bondsv1.SubmitSubscription{
		SeriesId:       "AZ-2031-USD",
		InvestorRef:    "inv-001",
		Category:       bondsv1.DiasporaCategory_DIASPORA_CATEGORY_CITIZEN_ABROAD,
		Country:        "DE",
		Units:          "10",
		IdempotencyKey: "go-example-1",
	}
	bytes, err := proto.Marshal(sub)
	if err != nil {
		panic(err)
	}
	var back bondsv1.SubmitSubscription
	if err := proto.Unmarshal(bytes, &back); err != nil || !proto.Equal(sub, &back) {
		panic(fmt.Sprintf("round trip failed: %v", err))
	}
	var conn *grpc.ClientConn // a real client dials the server (grpc.Dial)
	_ = bondsv1.NewBankServiceClient(conn)
	_ = bondsv1.NewLedgerServiceClient(conn)
	_ = bondsv1.NewParticipantServiceClient(conn)
	_ = bondsv1.NewTreasuryServiceClient(conn)
	_ = bondsv1.NewRegistryServiceClient(conn)
	_ = bondsv1.NewEngineServiceClient(conn)
	_ = bondsv1.NewPricingServiceClient(conn)
	fmt.Printf("go stubs ok: a SubmitSubscription of %d bytes round-trips\n", len(bytes))
}
