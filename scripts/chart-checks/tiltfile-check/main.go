// tiltfile-check FILE CONTEXT [WORKLOADS]: runs a Tiltfile with Tilt's API stubbed and prints what it
// declared: "resource <workload>", "image <ref> <context> <dockerfile>" (docker_build),
// "build <ref> <command>" (custom_build), "helm <chart> <values...>", "yaml <file>". os.getenv reads
// this process's environment. With WORKLOADS (lines "<kind> <name>" of the rendered chart) it also prints
// "workload <resource name>" for each, named as Tilt would (workload_to_resource_function).
package main

import (
	"fmt"
	"os"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

var out []string

// The Tiltfile's workload_to_resource_function, if it set one.
var resourceNamer starlark.Callable

type spec struct {
	params []string // names; a trailing "?" marks optional
}

func stub(name string, s spec, fn func(kw map[string]starlark.Value) starlark.Value) *starlark.Builtin {
	return starlark.NewBuiltin(name, func(t *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		// UnpackArgs rejects unknown keyword arguments and missing required ones ("name?" = optional).
		pairs := []any{}
		vals := make([]starlark.Value, len(s.params))
		for i, p := range s.params {
			pairs = append(pairs, p, &vals[i])
		}
		if err := starlark.UnpackArgs(name, args, kwargs, pairs...); err != nil {
			return nil, err
		}
		kw := map[string]starlark.Value{}
		for i, p := range s.params {
			kw[strings.TrimSuffix(p, "?")] = vals[i]
		}
		if fn == nil {
			return starlark.None, nil
		}
		return fn(kw), nil
	})
}

func str(v starlark.Value) string {
	if s, ok := v.(starlark.String); ok {
		return string(s)
	}
	return ""
}

func strs(v starlark.Value) []string {
	var r []string
	if l, ok := v.(*starlark.List); ok {
		for i := 0; i < l.Len(); i++ {
			r = append(r, str(l.Index(i)))
		}
	} else if s := str(v); s != "" {
		r = append(r, s)
	}
	return r
}

func main() {
	file, ctx := os.Args[1], os.Args[2]
	src, err := os.ReadFile(file)
	if err != nil {
		panic(err)
	}
	predeclared := starlark.StringDict{
		"struct":              starlark.NewBuiltin("struct", starlarkstruct.Make),
		"TRIGGER_MODE_AUTO":   starlark.MakeInt(0),
		"TRIGGER_MODE_MANUAL": starlark.MakeInt(1),
		"allow_k8s_contexts":  stub("allow_k8s_contexts", spec{[]string{"contexts"}}, nil),
		"k8s_context":         stub("k8s_context", spec{}, func(map[string]starlark.Value) starlark.Value { return starlark.String(ctx) }),
		"docker_build": stub("docker_build", spec{[]string{"ref", "context", "build_args?", "dockerfile?", "dockerfile_contents?", "live_update?", "match_in_env_vars?", "ignore?", "only?", "entrypoint?", "target?", "ssh?", "network?", "secret?", "extra_tag?", "container_args?", "cache_from?", "pull?", "platform?"}},
			func(kw map[string]starlark.Value) starlark.Value {
				df := str(kw["dockerfile"])
				if df == "" {
					df = "Dockerfile"
				}
				out = append(out, fmt.Sprintf("image %s %s %s", str(kw["ref"]), str(kw["context"]), df))
				return starlark.None
			}),
		"custom_build": stub("custom_build", spec{[]string{"ref", "command", "deps", "tag?", "disable_push?", "skips_local_docker?", "live_update?", "match_in_env_vars?", "ignore?", "entrypoint?", "container_args?", "command_bat_val?", "outputs_image_ref_to?", "command_bat?", "image_deps?", "env?", "dir?"}},
			func(kw map[string]starlark.Value) starlark.Value {
				if len(strs(kw["deps"])) == 0 {
					panic("custom_build: deps can't be empty")
				}
				out = append(out, fmt.Sprintf("build %s %s", str(kw["ref"]), str(kw["command"])))
				return starlark.None
			}),
		"os": starlarkstruct.FromStringDict(starlark.String("os"), starlark.StringDict{
			"getenv": stub("getenv", spec{[]string{"key", "default?"}}, func(kw map[string]starlark.Value) starlark.Value {
				if v, ok := os.LookupEnv(str(kw["key"])); ok {
					return starlark.String(v)
				}
				if kw["default"] == nil {
					return starlark.None
				}
				return kw["default"]
			}),
		}),
		"k8s_yaml": stub("k8s_yaml", spec{[]string{"yaml", "allow_duplicates?"}}, func(kw map[string]starlark.Value) starlark.Value {
			if s := str(kw["yaml"]); s != "" && !strings.HasPrefix(s, "<helm>") {
				out = append(out, "yaml "+s)
			}
			return starlark.None
		}),
		"helm": stub("helm", spec{[]string{"paths", "name?", "namespace?", "values?", "set?", "kube_version?", "skip_crds?"}}, func(kw map[string]starlark.Value) starlark.Value {
			out = append(out, fmt.Sprintf("helm %s %s %s", str(kw["paths"]), strings.Join(strs(kw["values"]), ","), strings.Join(strs(kw["set"]), ",")))
			return starlark.String("<helm>")
		}),
		"k8s_resource": stub("k8s_resource", spec{[]string{"workload?", "new_name?", "port_forwards?", "extra_pod_selectors?", "trigger_mode?", "resource_deps?", "objects?", "auto_init?", "pod_readiness?", "links?", "labels?", "discovery_strategy?"}}, func(kw map[string]starlark.Value) starlark.Value {
			out = append(out, "resource "+str(kw["workload"]))
			return starlark.None
		}),
		"link": stub("link", spec{[]string{"url", "name?"}}, func(kw map[string]starlark.Value) starlark.Value {
			if !strings.HasPrefix(str(kw["url"]), "http") {
				panic("link url must be http(s): " + str(kw["url"]))
			}
			return starlark.String(str(kw["url"]))
		}),
		"workload_to_resource_function": starlark.NewBuiltin("workload_to_resource_function", func(t *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var fn starlark.Callable
			if err := starlark.UnpackArgs("workload_to_resource_function", args, kwargs, "fn", &fn); err != nil {
				return nil, err
			}
			resourceNamer = fn
			return starlark.None, nil
		}),
		"local_resource": stub("local_resource", spec{[]string{"name", "cmd?", "deps?", "trigger_mode?", "resource_deps?", "ignore?", "auto_init?", "serve_cmd?", "cmd_bat?", "serve_cmd_bat?", "allow_parallel?", "links?", "tags?", "env?", "serve_env?", "readiness_probe?", "dir?", "serve_dir?", "labels?"}}, nil),
	}
	thread := &starlark.Thread{Name: "Tiltfile"}
	if _, err := starlark.ExecFileOptions(&syntax.FileOptions{TopLevelControl: true, GlobalReassign: true}, thread, file, src, predeclared); err != nil {
		if e, ok := err.(*starlark.EvalError); ok {
			fmt.Fprintln(os.Stderr, e.Backtrace())
		} else {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}
	for _, l := range out {
		fmt.Println(l)
	}
	if len(os.Args) > 3 {
		printWorkloads(thread, os.Args[3])
	}
}

// printWorkloads prints "workload <resource name>" for each "<kind> <name>" line of file.
func printWorkloads(thread *starlark.Thread, file string) {
	src, err := os.ReadFile(file)
	if err != nil {
		panic(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(src)), "\n") {
		kind, name, _ := strings.Cut(line, " ")
		resource := name
		if resourceNamer != nil {
			id := starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
				"name": starlark.String(name), "kind": starlark.String(kind),
				"namespace": starlark.String("pubsub"), "group": starlark.String(""),
			})
			v, err := starlark.Call(thread, resourceNamer, starlark.Tuple{id}, nil)
			if err != nil {
				fmt.Fprintln(os.Stderr, "workload_to_resource_function:", err)
				os.Exit(1)
			}
			resource = str(v)
		}
		fmt.Println("workload " + resource)
	}
}
