"""CSV that is safe to open in a spreadsheet. Excel, LibreOffice and Google Sheets run a cell beginning
with =, +, -, @, tab or carriage return as a formula (`=HYPERLINK(..)`, `=cmd|' /C calc'!A0`), and
titles, file names and catalogue numbers come from whoever made the manifest. Every CSV the
application writes goes through these writers, which put a single quote before such a cell (OWASP's
CSV injection advice; ASVS 1.2.10 adds the NUL character): a spreadsheet shows the text, and a program
reading the file sees the quote, the lesser evil. Only text is touched: a number the application
computed (a negative distance, a score) is data, not a formula."""

import csv

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")


def neutralise(value):
    """value, with a single quote in front when it is text a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class DictWriter(csv.DictWriter):
    """csv.DictWriter whose every cell is neutralised (the header row included)."""

    def writerow(self, rowdict):
        return super().writerow({key: neutralise(value) for key, value in rowdict.items()})

    def writerows(self, rowdicts):
        # csv.DictWriter.writerows does not go through writerow; one row at a time keeps it streaming.
        for rowdict in rowdicts:
            self.writerow(rowdict)


class Writer:
    """csv.writer(fileobj, ...) whose every cell is neutralised."""

    def __init__(self, fileobj, *args, **kwargs):
        self._writer = csv.writer(fileobj, *args, **kwargs)

    def writerow(self, row):
        return self._writer.writerow([neutralise(value) for value in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)
