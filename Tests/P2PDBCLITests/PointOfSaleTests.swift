import Foundation
import P2PDBCore
import Testing

/// A point-of-sale schema written the way such software writes it, loaded
/// from one script through `p2pdb sql` on standard input, then three
/// registers selling concurrently and merging by bundle files.
@Suite struct PointOfSaleTests {
    static let schema = """
        -- Point of sale, version 3
        DROP VIEW IF EXISTS daily_totals;
        DROP TABLE IF EXISTS sale_lines;
        DROP TABLE IF EXISTS sales;
        DROP TABLE IF EXISTS products;
        DROP TABLE IF EXISTS categories;

        CREATE TABLE categories (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name VARCHAR(40) NOT NULL
        );

        CREATE TABLE products (
            sku TEXT PRIMARY KEY,
            category_id INTEGER REFERENCES categories (id) ON DELETE SET NULL,
            name VARCHAR(80) NOT NULL,
            price DECIMAL(10,2) NOT NULL CHECK (price >= 0),
            stock COUNTER INTEGER,
            updated_at DATETIME DEFAULT (datetime('now'))
        );

        CREATE TABLE customers (
            id TEXT PRIMARY KEY DEFAULT (uuid()),
            name TEXT NOT NULL,
            email TEXT
        );

        CREATE TABLE sales (
            id TEXT PRIMARY KEY DEFAULT (uuid()),
            customer_id TEXT REFERENCES customers (id),
            register TEXT NOT NULL,
            created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
            total DECIMAL(10,2) NOT NULL DEFAULT 0 CHECK (total >= 0)
        );

        CREATE TABLE sale_lines (
            id TEXT PRIMARY KEY DEFAULT (uuid()),
            sale_id TEXT NOT NULL,
            sku TEXT NOT NULL,
            quantity INTEGER NOT NULL,
            unit_price DECIMAL(10,2) NOT NULL,
            CONSTRAINT positive_quantity CHECK (quantity > 0),
            FOREIGN KEY (sale_id) REFERENCES sales (id) ON DELETE CASCADE,
            FOREIGN KEY (sku) REFERENCES products (sku)
        );
        CREATE INDEX sale_lines_sale ON sale_lines (sale_id);

        CREATE VIEW daily_totals AS
            SELECT date(created_at) AS day, register, count(*) AS sales, sum(total) AS total
            FROM sales GROUP BY 1, 2;

        CREATE TRIGGER products_touched AFTER UPDATE ON products
        BEGIN
            UPDATE products SET updated_at = datetime('now') WHERE sku = NEW.sku;
        END;

        CREATE TRIGGER line_sold AFTER INSERT ON sale_lines
        BEGIN
            UPDATE products SET stock = stock - NEW.quantity WHERE sku = NEW.sku;
            UPDATE sales SET total = total + NEW.quantity * NEW.unit_price WHERE id = NEW.sale_id;
        END;

        INSERT INTO categories (name) VALUES ('fruit');
        INSERT INTO products (sku, category_id, name, price, stock) VALUES ('apple', last_insert_rowid(), 'Apple', 0.5, 100);
        INSERT INTO products (sku, category_id, name, price, stock)
            SELECT 'pear', id, 'Pear', 0.75, 40 FROM categories WHERE name = 'fruit';
        """

    static func sale(_ id: String, register: String, lines: [(String, Int)]) -> String {
        var script = "BEGIN;\nINSERT INTO sales (id, register) VALUES ('\(id)', '\(register)');\n"
        for (index, line) in lines.enumerated() {
            script += "INSERT INTO sale_lines (id, sale_id, sku, quantity, unit_price) SELECT '\(id)-\(index)', '\(id)', sku, \(line.1), price FROM products WHERE sku = '\(line.0)';\n"
        }
        return script + "COMMIT;\n"
    }

    @Test func threeRegistersSellConcurrentlyAndAgree() throws {
        let temp = try TemporaryDirectory()
        let registers = ["one", "two", "three"].map { temp.path($0) }
        for register in registers { try p2pdb("init", "--data", register) }
        let load = try p2pdb("sql", "--data", registers[0], input: Self.schema)
        #expect(load.status == 0, "\(load.stderr)")
        #expect(try p2pdb("check", "--data", registers[0]).status == 0)
        try p2pdb("export", "--data", registers[0], "--out", temp.path("catalogue.bundle"))
        for register in registers.dropFirst() {
            #expect(try p2pdb("import", "--data", register, temp.path("catalogue.bundle")).status == 0)
        }

        // Offline: every register sells; one changes a price and renames a
        // product; one refunds a sale (its lines go with it); a bad line is refused.
        #expect(try p2pdb("sql", "--data", registers[0], input: Self.sale("s1", register: "one", lines: [("apple", 3)])).status == 0)
        #expect(try p2pdb("sql", "--data", registers[1], input: Self.sale("s2", register: "two", lines: [("apple", 2), ("pear", 5)])).status == 0)
        #expect(try p2pdb("sql", "--data", registers[2], input: Self.sale("s3", register: "three", lines: [("apple", 1)])).status == 0)
        #expect(try p2pdb("sql", "--data", registers[2], input: Self.sale("s4", register: "three", lines: [("pear", 1)])).status == 0)
        #expect(try p2pdb("sql", "--data", registers[0], "UPDATE products SET price = 0.6 WHERE sku = 'apple'").status == 0)
        #expect(try p2pdb("sql", "--data", registers[2], "DELETE FROM sales WHERE id = 's4'").status == 0)
        let refused = try p2pdb("sql", "--data", registers[1], input: Self.sale("s5", register: "two", lines: [("apple", 0)]))
        #expect(refused.status != 0 && refused.stderr.contains("positive_quantity"))
        // A product with sales cannot be deleted where its lines are.
        #expect(try p2pdb("sql", "--data", registers[2], "DELETE FROM products WHERE sku = 'apple'").status != 0)
        #expect(try p2pdb("sql", "--data", registers[0], "UPDATE products SET name = 'Pear (old)' WHERE sku = 'pear'").status == 0)

        for (index, register) in registers.enumerated() {
            try p2pdb("export", "--data", register, "--out", temp.path("r\(index).bundle"))
        }
        for (index, register) in registers.enumerated() {
            for other in registers.indices where other != index {
                let imported = try p2pdb("import", "--data", register, temp.path("r\(other).bundle"))
                #expect(imported.status == 0, "\(imported.stderr)")
            }
        }

        var answers: [[String]] = []
        for register in registers {
            #expect(try p2pdb("verify", "--data", register).status == 0)
            let queries = [
                "SELECT sku, name, price, typeof(price), stock FROM products ORDER BY sku",
                "SELECT id, register, total, typeof(total) FROM sales ORDER BY id",
                "SELECT id, sale_id, sku, quantity FROM sale_lines ORDER BY id",
                "SELECT register, sales, total FROM daily_totals ORDER BY register",
            ]
            var answer = try queries.map { try p2pdb("sql", "--data", register, "--json", $0).stdout }
            answer.append(try JSON.parse(try p2pdb("status", "--data", register, "--json").stdout)["state_hash"]?.text ?? "")
            answer.append(try p2pdb("check", "--data", register, "--json").stdout)
            answers.append(answer)
        }
        #expect(answers[1] == answers[0])
        #expect(answers[2] == answers[0])
        // Apple: 100 - 3 - 2 - 1; pear: 40 - 5 - 1 (a refund does not restock); totals from the trigger.
        #expect(answers[0][0].contains(#"["apple","Apple",0.6,"real",94]"#))
        #expect(answers[0][0].contains(#"["pear","Pear (old)",0.75,"real",34]"#))
        #expect(answers[0][1].contains(#"["s2","two",4.75,"real"]"#))
        #expect(!answers[0][2].contains("s4-0"))
        #expect(answers[0][3].contains(#"["three",1,0.5]"#))
        #expect(try JSON.parse(answers[0][5])["count"] == .integer(0))
    }

    @Test func aLineWhoseProductAnotherRegisterDeletedIsKeptAndReported() throws {
        let temp = try TemporaryDirectory()
        let registers = ["one", "two"].map { temp.path($0) }
        for register in registers { try p2pdb("init", "--data", register) }
        #expect(try p2pdb("sql", "--data", registers[0], input: Self.schema).status == 0)
        try p2pdb("export", "--data", registers[0], "--out", temp.path("catalogue.bundle"))
        try p2pdb("import", "--data", registers[1], temp.path("catalogue.bundle"))
        #expect(try p2pdb("sql", "--data", registers[0], "DELETE FROM products WHERE sku = 'pear'").status == 0)
        #expect(try p2pdb("sql", "--data", registers[1], input: Self.sale("s1", register: "two", lines: [("pear", 2)])).status == 0)
        try p2pdb("export", "--data", registers[0], "--out", temp.path("a.bundle"))
        try p2pdb("export", "--data", registers[1], "--out", temp.path("b.bundle"))
        #expect(try p2pdb("import", "--data", registers[1], temp.path("a.bundle")).status == 0)
        #expect(try p2pdb("import", "--data", registers[0], temp.path("b.bundle")).status == 0)
        for register in registers {
            let check = try p2pdb("check", "--data", register)
            #expect(check.status == 1)
            #expect(check.stdout.contains("sale_lines ('s1-0'): sku refers to a row of products that does not exist"))
            #expect(try p2pdb("verify", "--data", register).status == 0)
        }
    }
}
