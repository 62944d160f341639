import { Client } from "@strata/sdk";
import type { Command } from "commander";
import { toJson } from "./output.ts";

/** The program-wide options, valid before or after any subcommand. */
export interface GlobalOptions {
  endpoint?: string;
  token?: string;
  json?: boolean;
  debug?: boolean;
}

/** What every command needs: the client, the output mode, and where to write. */
export class Context {
  readonly json: boolean;
  readonly debug: boolean;
  /** Colours on stdout only when it is a terminal and NO_COLOR is unset. */
  readonly color: boolean;
  readonly #options: GlobalOptions;
  #client: Client | undefined;

  constructor(options: GlobalOptions) {
    this.#options = options;
    this.json = options.json === true;
    this.debug = options.debug === true;
    this.color = process.stdout.isTTY === true && !process.env.NO_COLOR;
  }

  /** The context of the command whose action is running. */
  static of(command: Command): Context {
    return new Context(command.optsWithGlobals<GlobalOptions>());
  }

  /** The SDK client, built on first use so `--help` never needs a valid endpoint. */
  get client(): Client {
    this.#client ??= new Client({
      endpoint: this.#options.endpoint,
      token: this.#options.token,
      fetch: this.debug ? debugFetch : undefined,
    });
    return this.#client;
  }

  /** Writes a line to stdout. */
  print(text: string): void {
    process.stdout.write(`${text}\n`);
  }

  /** Writes a value as JSON to stdout. */
  printJson(value: unknown): void {
    this.print(toJson(value));
  }

  /**
   * Writes a listing: the items as JSON with `--json`, else `empty` when there are none,
   * else the table `table` makes of them.
   */
  printList<T>(items: T[], empty: string, table: (items: T[], ctx: Context) => string): void {
    if (this.json) this.printJson(items);
    else if (items.length === 0) this.print(empty);
    else this.print(table(items, this));
  }

  /** Writes a line to stderr (progress, notices). */
  note(text: string): void {
    process.stderr.write(`${text}\n`);
  }
}

/** `--debug`: logs each request and its answer on stderr (never the token). */
const debugFetch: typeof fetch = async (input, init) => {
  const started = performance.now();
  const method = init?.method ?? "GET";
  const url = input instanceof Request ? input.url : String(input);
  process.stderr.write(`debug: > ${method} ${url}\n`);
  try {
    const res = await fetch(input, init);
    const ms = Math.round(performance.now() - started);
    const id = res.headers.get("x-request-id");
    process.stderr.write(`debug: < ${res.status} in ${ms} ms${id ? ` (${id})` : ""}\n`);
    return res;
  } catch (err) {
    process.stderr.write(`debug: < failed: ${err instanceof Error ? err.message : String(err)}\n`);
    throw err;
  }
};
