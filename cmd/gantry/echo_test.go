package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseEchoListens(t *testing.T) {
	tests := []struct {
		name    string
		def     string
		listens []string
		want    []echoSpec
		wantErr bool
	}{
		{name: "default name", def: "n", listens: []string{"127.0.0.1:1"}, want: []echoSpec{{name: "n", addr: "127.0.0.1:1"}}},
		{name: "own names", def: "n", listens: []string{"a=127.0.0.1:1", "127.0.0.1:2"},
			want: []echoSpec{{name: "a", addr: "127.0.0.1:1"}, {name: "n", addr: "127.0.0.1:2"}}},
		{name: "none", def: "n", wantErr: true},
		{name: "empty name", def: "n", listens: []string{"=127.0.0.1:1"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseEchoListens(tc.def, tc.listens)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(echoSpec{})); diff != "" {
				t.Error(diff)
			}
		})
	}
}
