package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestBootstrapCmd(t *testing.T) {
	tests := []struct {
		args    []string
		want    []string
		wantErr string
	}{
		{args: []string{"--group", "gateway/default/gw", "--node-id", "n1"}, want: []string{"cluster: gateway/default/gw", "id: n1", "gantry_xds", "portValue: 18000"}},
		{args: []string{"--group", "gateway/default/gw", "-o", "json"}, want: []string{`"cluster": "gateway/default/gw"`}},
		{args: []string{"--group", "gateway/default/gw", "--grpc", "--xds-address", "127.0.0.1:1234"}, want: []string{`"server_uri": "127.0.0.1:1234"`, `"gantry.flavor": "grpc"`}},
		{args: []string{"--group", "mesh/default", "--grpc", "--node-id", "reviews-client-1"}, want: []string{`"cluster": "mesh/default"`, `"id": "reviews-client-1"`, `"gantry.flavor": "grpc"`}},
		{args: []string{"--group", "mesh/default/reviews", "--grpc"}, want: []string{`"cluster": "mesh/default/reviews"`}},
		{args: []string{"--group", "grpc/default/client", "--grpc"}, want: []string{`"cluster": "grpc/default/client"`}},
		{args: []string{"--group", "mesh/default"}, want: []string{"cluster: mesh/default", "gantry_xds"}},
		{args: []string{"--group", "gw"}, wantErr: `group "gw": want gateway/<namespace>/<name>, mesh/<namespace>, mesh/<namespace>/<service> or grpc/<namespace>/<name>`},
		{args: []string{"--group", "mesh/default/a/b", "--grpc"}, wantErr: `group "mesh/default/a/b": want`},
		{args: []string{"--group", "edge/default/gw", "--grpc"}, wantErr: `unknown role "edge"`},
		{args: []string{}, wantErr: `required flag(s) "group" not set`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := newBootstrapCmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(tc.args)
			err := cmd.Execute()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
