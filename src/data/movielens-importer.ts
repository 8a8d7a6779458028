/**
 * MovieLens → reelfeed Dataset, for both classic layouts, detected from the folder:
 *  - ml-100k: u.data (tab: user item rating ts), u.item (pipe, latin1), u.user (pipe), u.genre (optional);
 *  - ml-latest / ml-latest-small: ratings.csv, movies.csv, tags.csv (optional); links.csv is ignored.
 *
 * MovieLens is explicit ratings, reelfeed is implicit events, so the mapping (docs/data-formats.md) is a stand-in:
 * each rating is a completed watch, ≥ 4 also a like, ≤ 2 also a dislike; movies have no uploader, so a creator per
 * release decade + primary genre stands in; movies have no duration in the data, so all get one default.
 * MovieLens data is licensed for research and non-commercial use only (see its README.txt).
 */
import { join } from "node:path";
import { badFile } from "../errors";
import { silentProgress, type Progress } from "../util/progress";
import {
  createRowIssues,
  forEachCsvRecord,
  forEachLine,
  headerIndex,
  isFile,
  type ImportResult,
  type RowIssues,
} from "./tabular";
import type { Creator, Dataset, ReelEvent, User, Video } from "./types";

export type MovieLensLayout = "ml-100k" | "ml-latest";

/** Options for {@link importMovieLens}. */
export interface MovieLensImportOptions {
  /** Duration given to every movie, in seconds: MovieLens has none. @default 6000 */
  durationSec?: number;
  /** Layout; detected from the files in the folder when absent. @default detected */
  layout?: MovieLensLayout;
  /** @default silentProgress */
  progress?: Progress;
}

export const MOVIELENS_DEFAULT_DURATION_SEC = 6000;

/** ml-100k's u.genre, used when the folder has no u.genre file. */
export const ML100K_GENRES: readonly string[] = [
  "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
  "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
];

/** Genre labels that mean "no genre": category "unknown", no tag. */
const NO_GENRE = new Set(["(no genres listed)", "unknown"]);

/** The layout of a MovieLens folder, or undefined when it is neither. */
export async function detectMovieLensLayout(dir: string): Promise<MovieLensLayout | undefined> {
  if ((await isFile(join(dir, "u.data"))) || (await isFile(join(dir, "u.item")))) return "ml-100k";
  if ((await isFile(join(dir, "ratings.csv"))) || (await isFile(join(dir, "movies.csv")))) return "ml-latest";
  return undefined;
}

/** Year from a MovieLens title such as "Toy Story (1995)" or a series "(2007-)"; undefined when there is none. */
export function parseTitleYear(title: string): number | undefined {
  const m = /\((\d{4})(?:[-–]\d{0,4})?\)\s*$/.exec(title);
  return m ? Number(m[1]) : undefined;
}

/** The stand-in creator id: `ml:<decade>s:<primary genre>`, `ml:unknown:<genre>` without a year. */
export function movieLensCreatorId(year: number | undefined, category: string): string {
  return `ml:${year === undefined ? "unknown" : `${Math.floor(year / 10) * 10}s`}:${category}`;
}

interface Movie {
  id: string;
  title: string;
  genres: string[];
  year?: number;
}

interface Rating {
  user: string;
  movie: string;
  rating: number;
  tsMs: number;
}

export async function importMovieLens(dir: string, options: MovieLensImportOptions = {}): Promise<ImportResult> {
  const { durationSec = MOVIELENS_DEFAULT_DURATION_SEC, progress = silentProgress } = options;
  const layout = options.layout ?? (await detectMovieLensLayout(dir));
  if (layout === undefined) {
    throw badFile(dir, "not a MovieLens folder: expected ratings.csv + movies.csv (ml-latest) or u.data + u.item (ml-100k)");
  }
  const issues = createRowIssues();
  const step = progress.step(`import ${layout}`);
  const parts = layout === "ml-100k" ? await read100k(dir, issues) : await readLatest(dir, issues);
  step.tick(parts.ratings.length);
  const dataset = buildDataset(`movielens:${layout}`, parts, durationSec);
  step.done(`${parts.ratings.length} ratings, ${parts.movies.length} movies`);
  return { dataset, malformed: issues, provided: { users: true, creators: true } };
}

interface Parts {
  movies: Movie[];
  ratings: Rating[];
  tags: Array<{ user: string; movie: string; tag: string; tsMs: number }>;
  /** Profiles from u.user (ml-100k only). */
  profiles: Map<string, User>;
}

function parseRating(path: string, line: number, f: string[], issues: RowIssues): Rating | undefined {
  const user = f[0].trim();
  const movie = f[1].trim();
  const ratingText = f[2].trim();
  const tsText = f[3].trim();
  const rating = Number(ratingText);
  const ts = Number(tsText);
  if (!user || !movie) issues.add(path, line, "empty user or movie id");
  else if (ratingText === "" || !Number.isFinite(rating) || rating < 0.5 || rating > 5)
    issues.add(path, line, `rating "${ratingText}" is not a number in [0.5, 5]`);
  else if (tsText === "" || !Number.isInteger(ts) || ts < 0)
    issues.add(path, line, `timestamp "${tsText}" is not epoch seconds`);
  else return { user, movie, rating, tsMs: ts * 1000 };
  return undefined;
}

async function readLatest(dir: string, issues: RowIssues): Promise<Parts> {
  const moviesPath = join(dir, "movies.csv");
  const ratingsPath = join(dir, "ratings.csv");
  const tagsPath = join(dir, "tags.csv");
  const movies: Movie[] = [];
  let cols: Map<string, number> | undefined;
  await forEachCsvRecord(
    moviesPath,
    (f, line) => {
      if (!cols) return void (cols = headerIndex(moviesPath, f, ["movieId", "title", "genres"]));
      if (f.length !== cols.size) return issues.add(moviesPath, line, `expected ${cols.size} fields, got ${f.length}`);
      const id = f[cols.get("movieId")!].trim();
      const title = f[cols.get("title")!].trim();
      if (!id || !title) return issues.add(moviesPath, line, "empty movieId or title");
      const genres = f[cols.get("genres")!].split("|").map((g) => g.trim()).filter(Boolean);
      movies.push({ id, title, genres, year: parseTitleYear(title) });
    },
    { issues },
  );
  if (!cols) throw badFile(moviesPath, "empty file: expected header movieId,title,genres", 1);

  const ratings: Rating[] = [];
  cols = undefined;
  let iUser = 0, iMovie = 1, iRating = 2, iTs = 3;
  await forEachCsvRecord(
    ratingsPath,
    (f, line) => {
      if (!cols) {
        cols = headerIndex(ratingsPath, f, ["userId", "movieId", "rating", "timestamp"]);
        [iUser, iMovie, iRating, iTs] = ["userId", "movieId", "rating", "timestamp"].map((c) => cols!.get(c)!);
        return;
      }
      if (f.length !== cols.size) return issues.add(ratingsPath, line, `expected ${cols.size} fields, got ${f.length}`);
      const r = parseRating(ratingsPath, line, [f[iUser], f[iMovie], f[iRating], f[iTs]], issues);
      if (r) ratings.push(r);
    },
    { issues },
  );
  if (!cols) throw badFile(ratingsPath, "empty file: expected header userId,movieId,rating,timestamp", 1);

  const tags: Parts["tags"] = [];
  if (await isFile(tagsPath)) {
    cols = undefined;
    await forEachCsvRecord(
      tagsPath,
      (f, line) => {
        if (!cols) return void (cols = headerIndex(tagsPath, f, ["userId", "movieId", "tag", "timestamp"]));
        if (f.length !== cols.size) return issues.add(tagsPath, line, `expected ${cols.size} fields, got ${f.length}`);
        const [user, movie, tag, tsText] = ["userId", "movieId", "tag", "timestamp"].map((c) => f[cols!.get(c)!].trim());
        const ts = Number(tsText);
        if (!user || !movie || !tag) return issues.add(tagsPath, line, "empty userId, movieId or tag");
        if (tsText === "" || !Number.isInteger(ts) || ts < 0)
          return issues.add(tagsPath, line, `timestamp "${tsText}" is not epoch seconds`);
        tags.push({ user, movie, tag, tsMs: ts * 1000 });
      },
      { issues },
    );
  }
  return { movies, ratings, tags, profiles: new Map() };
}

/** Headerless files have no header to check, so the first row's shape stands for the file's. */
function checkFirstRow(path: string, line: number, fields: string[], expected: number, what: string): void {
  if (line === 1 && fields.length !== expected) {
    throw badFile(path, `expected ${expected} ${what} columns, got ${fields.length}`, 1);
  }
}

async function read100k(dir: string, issues: RowIssues): Promise<Parts> {
  const itemPath = join(dir, "u.item");
  const dataPath = join(dir, "u.data");
  const userPath = join(dir, "u.user");
  const genrePath = join(dir, "u.genre");
  let genreNames: string[] = [...ML100K_GENRES];
  if (await isFile(genrePath)) {
    const names: Array<[number, string]> = [];
    await forEachLine(genrePath, "latin1", (line, lineNo) => {
      if (!line.trim()) return;
      const [name, idx] = line.split("|");
      const i = Number(idx);
      if (!name || !Number.isInteger(i)) throw badFile(genrePath, `expected "name|index", got "${line}"`, lineNo);
      names.push([i, name]);
    });
    genreNames = names.sort((a, b) => a[0] - b[0]).map(([, n]) => n);
  }
  const itemFields = 5 + genreNames.length;
  const movies: Movie[] = [];
  // ml-100k predates UTF-8 in MovieLens: titles such as "Misérables" are latin1 bytes.
  await forEachLine(itemPath, "latin1", (line, lineNo) => {
    if (!line.trim()) return;
    const f = line.split("|");
    checkFirstRow(itemPath, lineNo, f, itemFields, "pipe-separated u.item");
    if (f.length !== itemFields) return issues.add(itemPath, lineNo, `expected ${itemFields} fields, got ${f.length}`);
    const [id, title, release] = f.map((s) => s.trim());
    if (!id || !title) return issues.add(itemPath, lineNo, "empty movie id or title");
    const flags = f.slice(5);
    if (flags.some((x) => x !== "0" && x !== "1")) return issues.add(itemPath, lineNo, "genre flags must be 0 or 1");
    const genres = genreNames.filter((_, i) => flags[i] === "1");
    const releaseYear = /(\d{4})\s*$/.exec(release)?.[1];
    movies.push({ id, title, genres, year: parseTitleYear(title) ?? (releaseYear ? Number(releaseYear) : undefined) });
  });
  const ratings: Rating[] = [];
  await forEachLine(dataPath, "latin1", (line, lineNo) => {
    if (!line.trim()) return;
    const f = line.split("\t");
    checkFirstRow(dataPath, lineNo, f, 4, "tab-separated u.data (user item rating timestamp)");
    if (f.length !== 4) return issues.add(dataPath, lineNo, `expected 4 fields, got ${f.length}`);
    const r = parseRating(dataPath, lineNo, f, issues);
    if (r) ratings.push(r);
  });
  const profiles = new Map<string, User>();
  if (await isFile(userPath)) {
    await forEachLine(userPath, "latin1", (line, lineNo) => {
      if (!line.trim()) return;
      const f = line.split("|").map((s) => s.trim());
      checkFirstRow(userPath, lineNo, f, 5, "pipe-separated u.user (id age gender occupation zip)");
      if (f.length !== 5) return issues.add(userPath, lineNo, `expected 5 fields, got ${f.length}`);
      const [id, ageText, gender, occupation] = f;
      const age = Number(ageText);
      if (!id) return issues.add(userPath, lineNo, "empty user id");
      if (ageText !== "" && (!Number.isInteger(age) || age < 0 || age > 130))
        return issues.add(userPath, lineNo, `age "${ageText}" is not a whole number of years`);
      const user: User = { id };
      if (ageText !== "") user.age = age;
      if (gender) user.gender = gender;
      if (occupation) user.occupation = occupation;
      profiles.set(id, user);
    });
  }
  return { movies, ratings, tags: [], profiles };
}

function buildDataset(source: string, parts: Parts, durationSec: number): Dataset {
  const { movies, ratings, tags, profiles } = parts;
  const firstRating = new Map<string, number>();
  const userFirst = new Map<string, number>();
  const events: ReelEvent[] = [];
  let minTs = Infinity;
  for (const r of ratings) {
    const f = firstRating.get(r.movie);
    if (f === undefined || r.tsMs < f) firstRating.set(r.movie, r.tsMs);
    const u = userFirst.get(r.user);
    if (u === undefined || r.tsMs < u) userFirst.set(r.user, r.tsMs);
    if (r.tsMs < minTs) minTs = r.tsMs;
    const key = `${r.user}:${r.movie}`;
    events.push({
      id: `ml:w:${key}`,
      type: "watch",
      userId: r.user,
      videoId: r.movie,
      ts: r.tsMs,
      watchedSec: durationSec,
      videoDurationSec: durationSec,
    });
    if (r.rating >= 4) events.push({ id: `ml:l:${key}`, type: "like", userId: r.user, videoId: r.movie, ts: r.tsMs });
    else if (r.rating <= 2) events.push({ id: `ml:d:${key}`, type: "dislike", userId: r.user, videoId: r.movie, ts: r.tsMs });
  }
  const tagsByMovie = new Map<string, Array<{ tag: string; tsMs: number }>>();
  for (const t of tags) {
    const list = tagsByMovie.get(t.movie);
    if (list) list.push(t);
    else tagsByMovie.set(t.movie, [t]);
    const u = userFirst.get(t.user);
    if (u === undefined || t.tsMs < u) userFirst.set(t.user, t.tsMs);
    if (t.tsMs < minTs) minTs = t.tsMs;
  }
  if (!Number.isFinite(minTs)) minTs = 0;

  const creators = new Map<string, Creator>();
  const videos: Video[] = [];
  for (const m of movies) {
    const primary = m.genres.find((g) => !NO_GENRE.has(g)) ?? "unknown";
    const movieTags = tagsByMovie.get(m.id) ?? [];
    const tagSet = new Set(m.genres.filter((g) => !NO_GENRE.has(g)).map((g) => g.toLowerCase()));
    // Description keeps the users' own wording (first spelling seen); tags are normalised to lower case.
    const descriptionParts = new Map<string, string>();
    for (const t of movieTags) {
      const norm = t.tag.trim().toLowerCase();
      tagSet.add(norm);
      if (!descriptionParts.has(norm)) descriptionParts.set(norm, t.tag.trim());
    }
    const firstSeen = firstRating.get(m.id) ?? movieTags.reduce((a, t) => Math.min(a, t.tsMs), Infinity);
    const yearStart = m.year === undefined ? Infinity : Date.UTC(m.year, 0, 1);
    let uploadedAt = Math.min(yearStart, firstSeen);
    if (!Number.isFinite(uploadedAt)) uploadedAt = minTs;
    const creatorId = movieLensCreatorId(m.year, primary);
    const creator = creators.get(creatorId);
    if (!creator) {
      const decade = m.year === undefined ? "unknown decade" : `${Math.floor(m.year / 10) * 10}s`;
      creators.set(creatorId, { id: creatorId, name: `MovieLens ${primary}, ${decade}`, createdAt: uploadedAt });
    } else if (uploadedAt < (creator.createdAt ?? Infinity)) creator.createdAt = uploadedAt;
    const video: Video = {
      id: m.id,
      creatorId,
      title: m.title,
      tags: [...tagSet],
      category: primary,
      durationSec,
      uploadedAt,
    };
    if (descriptionParts.size > 0) video.description = [...descriptionParts.values()].join(", ");
    videos.push(video);
  }

  const users: User[] = [];
  const userIds = new Set<string>([...profiles.keys(), ...userFirst.keys()]);
  for (const id of userIds) {
    const user: User = { ...(profiles.get(id) ?? { id }) };
    // MovieLens has no sign-up date; the first activity is when the account certainly existed.
    const first = userFirst.get(id);
    if (first !== undefined) user.createdAt = first;
    users.push(user);
  }
  return { source, users, creators: [...creators.values()], videos, follows: [], subscriptions: [], events };
}
