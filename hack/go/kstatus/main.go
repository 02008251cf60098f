// Command kstatus prints what kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute) says about one Kubernetes
// object: the verdict Flux, kpt, Config Sync and cli-utils' applier wait on (Current, InProgress, Failed,
// Terminating). It judges the object it is given and never talks to a cluster.
//
//	kubectl get cnet default -o json | kstatus
//	kstatus -f object.yaml
//	kstatus -version
//
// The input is one object, JSON or YAML, on stdin or in FILE. The output is one JSON line:
//
//	{"status":"Current","message":"Resource is Ready","conditions":[]}
//
// where conditions are the standard conditions (Reconciling, Stalled) kstatus derived for its verdict. Exit 0 when a
// status was computed; exit 1 with the reason on stderr when the input is not one object or Compute fails.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

const cliUtils = "sigs.k8s.io/cli-utils"

type output struct {
	Status     status.Status      `json:"status"`
	Message    string             `json:"message"`
	Conditions []status.Condition `json:"conditions"`
}

func main() {
	file := flag.String("f", "-", "file with one object, JSON or YAML (- for stdin)")
	version := flag.Bool("version", false, "print the cli-utils version this was built with and exit")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: kstatus [-f FILE] [-version]\n"+
			"Prints kstatus's verdict on one Kubernetes object (JSON or YAML, stdin by default) as JSON.\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if *version {
		fmt.Printf("kstatus (%s %s)\n", cliUtils, moduleVersion(cliUtils))
		return
	}
	out, err := run(*file)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: %v\n", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: %v\n", err)
		os.Exit(1)
	}
}

func run(file string) (*output, error) {
	var (
		data []byte
		err  error
	)
	if file == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, err
	}
	obj, err := decodeOne(data)
	if err != nil {
		return nil, err
	}
	res, err := status.Compute(obj)
	if err != nil {
		return nil, fmt.Errorf("status.Compute: %w", err)
	}
	conds := res.Conditions
	if conds == nil {
		conds = []status.Condition{}
	}
	return &output{Status: res.Status, Message: res.Message, Conditions: conds}, nil
}

// decodeOne reads exactly one object (JSON, or a YAML stream with one non-empty document). A list (kubectl get
// without a name) is refused: Compute would call it Current without looking at any item.
func decodeOne(data []byte) (*unstructured.Unstructured, error) {
	docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []map[string]any
	for {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the input: %w", err)
		}
		// JSON passes through; YAML is converted.
		js, err := utilyaml.ToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("input is not a JSON or YAML object: %w", err)
		}
		if t := string(bytes.TrimSpace(js)); t == "" || t == "null" {
			continue // an empty document
		}
		// As the API machinery decodes objects: whole numbers become int64 (metadata.generation and
		// status.observedGeneration are compared as int64), not encoding/json's float64.
		var m map[string]any
		if err := utiljson.Unmarshal(js, &m); err != nil {
			return nil, fmt.Errorf("input is not a JSON or YAML object: %w", err)
		}
		if len(m) > 0 {
			objs = append(objs, m)
		}
	}
	switch {
	case len(objs) == 0:
		return nil, errors.New("no object in the input")
	case len(objs) > 1:
		return nil, fmt.Errorf("%d objects in the input; give one", len(objs))
	}
	u := &unstructured.Unstructured{Object: objs[0]}
	if u.GetKind() == "" || u.GetAPIVersion() == "" {
		return nil, errors.New("the object has no kind or apiVersion")
	}
	if _, isList := objs[0]["items"]; isList && strings.HasSuffix(u.GetKind(), "List") {
		return nil, fmt.Errorf("the input is a %s; give one object (kubectl get KIND NAME -o json)", u.GetKind())
	}
	return u, nil
}

func moduleVersion(path string) string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == path {
				if dep.Replace != nil {
					return dep.Replace.Version
				}
				return dep.Version
			}
		}
	}
	return "unknown"
}
