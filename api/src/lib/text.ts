/**
 * The first `n` characters (Unicode code points) of `s`, like Postgres's left(): never splits a
 * surrogate pair, as String#slice on UTF-16 units would.
 */
export function firstCharacters(s: string, n: number): string {
  if (s.length <= n) return s;
  let end = 0;
  for (let count = 0; count < n && end < s.length; count++) {
    const unit = s.charCodeAt(end);
    end += unit >= 0xd800 && unit <= 0xdbff && end + 1 < s.length ? 2 : 1;
  }
  return s.slice(0, end);
}
