"""Demo data for `make run`, the fuzzer and the benchmarks: a tenant with contacts, jobs and
files. A feature of its own, so the core (`portal`) imports no feature app."""
