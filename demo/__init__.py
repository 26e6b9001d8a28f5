"""Demo data for `make run`, the fuzzer and the benchmarks: the seed's tenant, contacts, jobs and
files. A feature of its own, so the core (`portal`) imports no feature app."""
